"""Run-mode switches and where labkit keeps its files.

``QUICK`` is true when the environment variable ``LABKIT_QUICK`` is set to ``1`` (the tests and CI
set it). Notebooks and experiments then shrink data, epochs, seeds and UMAP sizes so that every
notebook runs in about a minute on two CPU cores. It is read from the environment each time it is
accessed, so setting the variable inside a running kernel takes effect at once.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["QUICK", "is_quick", "pick", "data_dir"]

_TRUE = {"1", "true", "yes", "on"}


def is_quick() -> bool:
    """True when ``LABKIT_QUICK`` is ``1`` (also ``true``/``yes``/``on``)."""
    return os.environ.get("LABKIT_QUICK", "").strip().lower() in _TRUE


def pick(full, quick):
    """Return ``quick`` in quick mode and ``full`` otherwise: ``epochs = pick(50, 5)``."""
    return quick if is_quick() else full


def __getattr__(name):  # module attribute QUICK, evaluated on access
    if name == "QUICK":
        return is_quick()
    raise AttributeError(f"module 'labkit.config' has no attribute {name!r}")


def _checkout_root() -> Path | None:
    """The project root when labkit runs from a source checkout (editable install), else None."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "data").is_dir():
        return root
    return None


def data_dir() -> Path:
    """Directory for downloaded datasets and cached projections, created if missing.

    Order: ``$LABKIT_DATA``; ``data/cache`` inside a source checkout (git-ignored); the user cache
    directory (``$XDG_CACHE_HOME/labkit`` or ``~/.cache/labkit``). A path that is a file, or that
    cannot be created, raises ``NotADirectoryError`` saying to point ``LABKIT_DATA`` at a folder.
    """
    env = os.environ.get("LABKIT_DATA")
    if env:
        path = Path(env).expanduser()
    elif (root := _checkout_root()) is not None:
        path = root / "data" / "cache"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "labkit"
    if path.exists() and not path.is_dir():
        where = "LABKIT_DATA" if env else "the data folder"
        raise NotADirectoryError(f"{where} must be a folder, but {path} is a file: point LABKIT_DATA at a folder "
                                 f"(or remove the file)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NotADirectoryError(f"cannot create the data folder {path}: {exc.strerror or exc}; point LABKIT_DATA "
                                 f"at a writable folder") from None
    return path
