"""Data: the dataset container, embedded and downloadable datasets, and the on-device loader."""
from .datasets import (Dataset, DatasetUnavailable, from_arrays, list_datasets, load_dataset,
                       register_dataset)
from .loader import DeviceLoader

__all__ = ["Dataset", "DatasetUnavailable", "DeviceLoader", "from_arrays", "list_datasets",
           "load_dataset", "register_dataset"]
