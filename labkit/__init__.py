"""labkit: a GPU-first teaching and exploration kit.

Four research stories, one small set of primitives: :class:`~labkit.data.DeviceLoader`,
:func:`~labkit.train.fit`, ``build_model`` / ``build_method`` (classifiers and complementary-label
losses by name; ``register_model`` / ``register_method`` add your own), ``project_2d`` (UMAP / PCA
of embeddings). Start with notebooks/00_tour.ipynb.
"""
from .cll import build_method, list_methods, register_method
from .data import DeviceLoader, from_arrays, list_datasets, load_dataset
from .device import autocast, get_device, set_seed
from .models import build_model, list_models, register_model
from .train import History, evaluate, fit, predict

__version__ = "0.1.0"
__all__ = ["DeviceLoader", "History", "autocast", "build_method", "build_model", "evaluate", "fit", "from_arrays",
           "get_device", "list_datasets", "list_methods", "list_models", "load_dataset", "predict",
           "register_method", "register_model", "set_seed"]
