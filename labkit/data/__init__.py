"""Data: the dataset container, embedded and downloadable datasets, and the on-device loader."""
from .datasets import (Dataset, DatasetUnavailable, from_arrays, list_datasets, load_dataset,
                       register_dataset)
from . import downloads  # registers mnist, fashion-mnist, kmnist, cifar10, cifar20
from .loader import DeviceLoader
from .climage import CLDataset, load_climage
from .lumbar import load_paired_folder, make_lumbar
from .imbalance import long_tail_counts, make_long_tailed, max_ratio, shot_groups, shot_thresholds

__all__ = ["CLDataset", "load_climage", "Dataset", "DatasetUnavailable", "DeviceLoader", "from_arrays", "list_datasets",
           "load_dataset", "register_dataset", "make_lumbar", "load_paired_folder",
           "long_tail_counts", "make_long_tailed", "max_ratio", "shot_groups", "shot_thresholds"]
