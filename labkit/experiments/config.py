"""Typed run configurations: every knob of an experiment, with its default, type and one line of help.

Each story has a frozen dataclass (:class:`~labkit.experiments.CLLConfig`,
:class:`~labkit.experiments.ImbalancedConfig`, :class:`~labkit.experiments.CLIPConfig`) built on
:class:`RunConfig`. A configuration is checked once, when it is made (``__post_init__``), before any
data is loaded; ``replace`` re-checks it. The ``labkit`` command line is generated from the fields
(types from the annotations, help from :func:`knob`), and every result row carries the
configuration that produced it.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Callable, ClassVar, Iterable

from .._validation import check_seeds
from ..data import Dataset, load_dataset

__all__ = ["RunConfig", "knob", "resolve_dataset", "check_seeds", "check_name"]


def model_names() -> list[str]:
    """The networks a configuration may name (``labkit.list_models()``, read when asked)."""
    from ..models import list_models

    return list_models()


def check_name(value, kind: str, names: Iterable[str]) -> str:
    """``value`` if it is one of a registry's ``names``; else "unknown <kind> ...; valid names: ..."."""
    names = list(names)
    if not isinstance(value, str) or value not in names:
        raise ValueError(f"unknown {kind} {value!r}; valid names: {', '.join(names)}")
    return value


def knob(default, help: str, *, choices: Iterable | Callable[[], Iterable] | None = None):
    """A configuration field: its default, one line of ``help`` and, for enumerated fields, the
    ``choices`` (a sequence, or a function returning one, evaluated when asked)."""
    if isinstance(default, list):
        default = tuple(default)
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


class RunConfig:
    """Base of the story configurations (frozen dataclasses). Subclasses set ``experiment`` and
    implement ``validate`` (checks that need no data) and may implement ``resolved`` (fill the
    defaults that depend on quick mode, e.g. ``epochs=None``)."""

    experiment: ClassVar[str] = ""
    #: the metrics a comparison is read on (the CLI prints their paired differences)
    METRICS: ClassVar[tuple[str, ...]] = ("test_accuracy",)
    #: named protocols: name -> (one line saying whose setting it is, the field values it sets)
    PRESETS: ClassVar[dict[str, tuple[str, dict]]] = {}
    #: fields that describe how a run is repeated or shown, not what is run: kept out of result rows
    NOT_IN_ROW: ClassVar[tuple[str, ...]] = ("seeds",)

    def __post_init__(self):
        for f in dataclasses.fields(self):  # lists from the command line or a user become tuples
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        object.__setattr__(self, "seeds", check_seeds(self.seeds))
        self.validate()

    def validate(self) -> None:  # pragma: no cover - every story overrides it
        """Raise ValueError for a bad setting (before any data is loaded)."""

    def resolved(self):
        """The configuration with every quick-mode-dependent default filled in."""
        return self

    def _set(self, name: str, value) -> None:
        """Normalise a field inside ``validate`` (the dataclass is frozen)."""
        object.__setattr__(self, name, value)

    @classmethod
    def options(cls) -> list[str]:
        """The field names, in order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def help(cls, name: str) -> str:
        """The one-line help of field ``name``."""
        return _field(cls, name).metadata.get("help", "")

    @classmethod
    def choices(cls, name: str) -> list | None:
        """The allowed values of an enumerated field (None: any value of its type)."""
        choices = _field(cls, name).metadata.get("choices")
        return list(choices() if callable(choices) else choices) if choices is not None else None

    @classmethod
    def types(cls) -> dict[str, Any]:
        """Field name -> annotated type (resolved with ``typing.get_type_hints``)."""
        hints = typing.get_type_hints(cls)
        return {name: hints[name] for name in cls.options()}

    @classmethod
    def build(cls, config=None, **overrides):
        """``config`` (default: the defaults) with ``overrides`` applied and checked."""
        if config is None:
            config = cls()
        elif not isinstance(config, cls):
            raise ValueError(f"config must be a {cls.__name__}, got {type(config).__name__}")
        unknown = sorted(set(overrides) - set(cls.options()))
        if unknown:  # like any function given an unexpected keyword: TypeError
            raise TypeError(f"unknown option(s) {', '.join(unknown)} for {cls.__name__}; valid options: "
                             f"{', '.join(cls.options())}")
        return dataclasses.replace(config, **overrides) if overrides else config

    @classmethod
    def preset(cls, name: str, **overrides):
        """The named protocol ``name`` (see ``PRESETS``), with ``overrides`` applied on top."""
        if name not in cls.PRESETS:
            raise ValueError(f"unknown preset {name!r} for {cls.__name__}; valid names: "
                             f"{', '.join(cls.PRESETS) or '(none)'}")
        return cls.build(**{**cls.PRESETS[name][1], **overrides})

    @classmethod
    def describe_presets(cls) -> str:
        """One line per preset: its name, whose setting it is, and what it sets."""
        return "\n".join(f"{name}: {text} ({', '.join(f'{k}={v}' for k, v in values.items())})"
                         for name, (text, values) in cls.PRESETS.items())

    def row(self) -> dict:
        """The configuration as result-row columns (``experiment`` first; a ``(train, test)`` pair of
        datasets is recorded by its name; ``seeds`` is left out: each row has its own ``seed``)."""
        out = {"experiment": self.experiment}
        for name in self.options():
            if name in self.NOT_IN_ROW:
                continue
            value = getattr(self, name)
            if name == "dataset" and not isinstance(value, str):
                value = value[0].name
            out[name] = value
        return out


def _field(cls, name: str) -> dataclasses.Field:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f
    raise ValueError(f"{cls.__name__} has no option {name!r}; valid options: {', '.join(cls.options())}")


def resolve_dataset(dataset, **kw) -> tuple[Dataset, Dataset]:
    """``(train, test)`` from a dataset name (see ``list_datasets()``) or a ``(train, test)`` pair."""
    if isinstance(dataset, str):
        return load_dataset(dataset, "train", **kw), load_dataset(dataset, "test", **kw)
    check_dataset(dataset)
    return tuple(dataset)


def check_dataset(dataset) -> None:
    """A dataset name, or a ``(train, test)`` pair of labkit Datasets with the same classes and shape."""
    if isinstance(dataset, str):
        from ..data import list_datasets

        if dataset not in list_datasets():
            raise ValueError(f"unknown dataset {dataset!r}; valid names: {', '.join(list_datasets())} "
                             f"(or a (train, test) pair of labkit Datasets)")
        return
    if (isinstance(dataset, (tuple, list)) and len(dataset) == 2
            and all(isinstance(d, Dataset) for d in dataset)):
        train, test = dataset
        if train.num_classes != test.num_classes or train.in_shape != test.in_shape:
            raise ValueError("train and test must have the same classes and example shape")
        return
    raise ValueError("dataset must be a name from list_datasets() or a (train, test) pair of labkit Datasets")
