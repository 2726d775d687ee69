"""Argument checks shared by the whole package, with messages that say what was given and what is allowed.

Each check returns the (normalised) value or raises ``ValueError`` naming the argument, e.g.
``positive_int(0, "epochs")`` -> ``ValueError: epochs must be an integer >= 1, got 0``. Booleans are
never accepted as numbers (``True`` is an ``int`` in Python, but ``epochs=True`` is a mistake).
Checks run before any work: a run that would fail at epoch 90 fails at once instead.
"""
from __future__ import annotations

import math
import numbers
import re
from typing import Iterable, Mapping, Sequence

__all__ = ["integer", "positive_int", "non_negative_int", "number", "positive", "non_negative", "probability",
           "open_fraction", "one_of", "finite_tensor", "check_seeds", "boolean", "function", "registry_name",
           "seed", "labels", "weights", "MAX_CLASSES"]

#: The most classes labkit accepts (labels 0..MAX_CLASSES-1). A label of 10**9 would otherwise build
#: a billion class names, and a confusion matrix of K² counts; 100,000 is well above ImageNet-21k's
#: 21,841 classes.
MAX_CLASSES = 100_000

_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def integer(value, name: str, low: int | None = None, high: int | None = None, note: str = "") -> int:
    """An integer in ``[low, high]`` (either bound optional); numpy integers are accepted."""
    ok = _is_int(value) and (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        if low is not None and high is not None:
            allowed = f"an integer in {low}..{high}"
        elif low is not None:
            allowed = f"an integer >= {low}"
        elif high is not None:
            allowed = f"an integer <= {high}"
        else:
            allowed = "an integer"
        raise ValueError(f"{name} must be {allowed}{_note(note)}, got {value!r}")
    return int(value)


def positive_int(value, name: str, note: str = "") -> int:
    """An integer >= 1."""
    return integer(value, name, low=1, note=note)


def non_negative_int(value, name: str, note: str = "") -> int:
    """An integer >= 0."""
    return integer(value, name, low=0, note=note)


def number(value, name: str, low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False, finite: bool = True, note: str = "") -> float:
    """A real number (not NaN; finite unless ``finite=False``) in the interval given by the bounds."""
    ok = _is_real(value) and not math.isnan(value) and (not finite or math.isfinite(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(f"{name} must be {_interval(low, high, low_open, high_open, finite)}{_note(note)}, "
                         f"got {value!r}")
    return float(value)


def positive(value, name: str, note: str = "") -> float:
    """A finite number > 0."""
    return number(value, name, low=0, low_open=True, note=note)


def non_negative(value, name: str, note: str = "") -> float:
    """A finite number >= 0."""
    return number(value, name, low=0, note=note)


def probability(value, name: str, note: str = "") -> float:
    """A number in [0, 1]."""
    return number(value, name, low=0, high=1, note=note)


def open_fraction(value, name: str, note: str = "") -> float:
    """A number strictly between 0 and 1 (a split fraction that must leave both sides non-empty)."""
    return number(value, name, low=0, high=1, low_open=True, high_open=True, note=note)


def boolean(value, name: str) -> bool:
    """``True`` or ``False`` (numpy booleans too), nothing else."""
    numpy_bool = type(value).__module__ == "numpy" and type(value).__name__ in ("bool_", "bool")  # numpy 1 and 2
    if not isinstance(value, bool) and not numpy_bool:
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def one_of(value, name: str, choices: Iterable, note: str = ""):
    """``value`` if it is one of ``choices``; the message lists them."""
    choices = list(choices)
    try:
        found = value in choices
    except TypeError:  # unhashable or incomparable value
        found = False
    if not found:
        shown = ", ".join("None" if c is None else str(c) for c in choices)
        raise ValueError(f"{name} must be one of {shown}{_note(note)}, got {value!r}")
    return value


def function(value, name: str, note: str = ""):
    """``value`` if it is callable (a function, a class, an object with ``__call__``)."""
    if not callable(value):
        raise ValueError(f"{name} must be callable{_note(note)}, got {value!r}")
    return value


def registry_name(value, kind: str, registry: Mapping, *, overwrite: bool = False) -> str:
    """A new key for ``registry``: lower-case letters and digits joined by hyphens (e.g. ``"my-mlp"``),
    not already taken unless ``overwrite=True``. ``kind`` names what is registered ("model")."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"a {kind} name must be lower-case letters and digits joined by hyphens "
                         f"(e.g. 'my-{kind}'), got {value!r}")
    if value in registry and not overwrite:
        raise ValueError(f"{kind} {value!r} is already registered; pass overwrite=True to replace it "
                         f"(registered: {', '.join(registry)})")
    return value


def finite_tensor(x, name: str):
    """``x`` (a tensor or array) if every entry is finite; else say how many are NaN or infinite."""
    import torch

    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    if t.is_floating_point() or t.is_complex():
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            nan = int(torch.isnan(t).sum())
            raise ValueError(f"{name} must be finite: {nan} NaN and {int(bad.sum()) - nan} infinite entries "
                             f"of {t.numel()}")
    return x


def seed(value, name: str = "seed", *, allow_none: bool = True):
    """A seed for numpy and torch: an integer >= 0 (numpy integers too), or None when ``allow_none``."""
    if value is None and allow_none:
        return None
    return integer(value, name, low=0, note="or None for fresh randomness" if allow_none else "")


def labels(y, name: str = "y", num_classes: int | None = None, *, ndim: int | None = 1):
    """Class labels as a long tensor: integers (or whole-valued floats) in 0..K-1.

    K is ``num_classes`` when given, else at most :data:`MAX_CLASSES`. Fractional floats are refused,
    not truncated (``[0.5, 1.7]`` is not ``[0, 1]``); NaN, negative labels and booleans too.
    """
    import numpy as np
    import torch

    if isinstance(y, torch.Tensor):
        t = y.detach()
    else:
        a = np.asarray(y)
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold integer class labels, got {a.dtype} values")
        t = torch.as_tensor(a)
    if t.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class labels, got booleans")
    if t.is_complex():
        raise ValueError(f"{name} must hold integer class labels, got complex numbers")
    if ndim is not None and t.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D (one label per example), got shape {tuple(t.shape)}")
    if t.is_floating_point() and t.numel():
        finite_tensor(t, name)
        frac = t != t.round()
        if bool(frac.any()):
            raise ValueError(f"{name} must hold whole-number class labels; {int(frac.sum())} are fractional "
                             f"(e.g. {float(t[frac][0])!r}): labels are refused, not truncated")
    high = (num_classes if num_classes is not None else MAX_CLASSES) - 1
    if t.numel():
        lo, hi = float(t.min()), float(t.max())
        if lo < 0 or hi > high:
            bound = (f"0..{high}" if num_classes is not None
                     else f"0..{high} (at most MAX_CLASSES = {MAX_CLASSES} classes)")
            raise ValueError(f"{name}: labels must lie in {bound}, got range {lo:g}..{hi:g}")
    return t.long()


def weights(value, name: str, length: int | None = None, *, note: str = ""):
    """Non-negative finite weights (a float64 tensor) with a positive sum, ``length`` of them if given."""
    import numpy as np
    import torch

    try:
        w = torch.as_tensor(np.asarray(value, dtype=np.float64)).flatten()
    except (TypeError, ValueError):
        w = None
    ok = (w is not None and np.ndim(value) == 1 and (length is None or len(w) == length)
          and bool(torch.isfinite(w).all()) and not bool((w < 0).any()) and float(w.sum()) > 0)
    if not ok:
        count = f"{length} " if length is not None else ""
        raise ValueError(f"{name} must be {count}finite non-negative numbers with a positive sum{_note(note)}, "
                         f"got {value!r}")
    return w


def check_seeds(seeds) -> tuple[int, ...]:
    """Seeds as a non-empty tuple of distinct integers (a single integer is accepted)."""
    if _is_int(seeds):
        seeds = (seeds,)
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, range)) and not hasattr(seeds, "__iter__"):
        raise ValueError(f"seeds must be a non-empty sequence of integers, got {seeds!r}")
    seeds = tuple(seeds)
    if not seeds or not all(_is_int(s) for s in seeds):
        raise ValueError(f"seeds must be a non-empty sequence of integers, got {seeds!r}")
    seeds = tuple(int(s) for s in seeds)
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"seeds must be distinct (a repeated seed repeats the same run and shrinks the "
                         f"spread), got {repeated} more than once")
    return seeds


def _note(note: str) -> str:
    return f" ({note})" if note else ""


def _interval(low, high, low_open, high_open, finite) -> str:
    kind = "a finite number" if finite else "a number"
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {high:g}"
    return kind
