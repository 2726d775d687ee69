"""The ``labkit`` command: ``labkit cll|imbalanced|clip [--flag value ...] [--out results.csv]``.

Two more commands live in their own modules: ``labkit reproduce NAME`` (:mod:`labkit.recipes`,
paper-scale recipes) and ``labkit explore FEATURES`` (:mod:`labkit.app`, the embedding explorer as a
web app); :func:`main` hands their arguments over unparsed.

Every field of the story's configuration (:class:`~labkit.experiments.CLLConfig`,
:class:`~labkit.experiments.ImbalancedConfig`, :class:`~labkit.experiments.CLIPConfig`) is a flag
(``batch_size`` -> ``--batch-size``), typed from its annotation (``--epochs none`` for ``int | None``)
and documented by its help line. A flag given several values sweeps them (the grid of all
combinations); ``--seeds 0 1 2`` is one value. Rows are written to ``--out`` (CSV or JSON, with
``<stem>.config.json`` beside it) and a mean ± std summary table is printed.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import types
import typing

from . import distributed, experiments

#: command -> (runner name in labkit.experiments, configuration class)
COMMANDS = {"cll": ("run_cll", experiments.CLLConfig), "imbalanced": ("run_imbalanced", experiments.ImbalancedConfig),
            "clip": ("run_clip", experiments.CLIPConfig)}


def _auto(text: str):
    """Parse a command-line value: none/true/false, int, float, else the string itself."""
    low = text.lower()
    if low == "none":
        return None
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


_PARSERS = {bool: _bool, int: int, float: float, str: str}


def _parser_for(hint):
    """A function parsing one command-line word into a value of type ``hint`` (``X | None``: "none")."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        inner = _parser_for(next(a for a in args if a is not type(None)))

        def optional(text: str):
            return None if text.lower() == "none" else inner(text)
        optional.__name__ = getattr(inner, "__name__", "value")
        return optional
    parse = _PARSERS.get(hint, _auto)
    if parse is float:  # accept "1e-3" and ints alike, reject words with a clear message
        def number(text: str) -> float:
            try:
                return float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        return number
    return parse


def _is_whole(hint) -> bool:
    """Fields that take a list as ONE value (seeds), not a sweep."""
    return typing.get_origin(hint) in (tuple, list)


def _help(cls, name: str, hint) -> str:
    default = getattr(cls(), name) if name != "seeds" else " ".join(map(str, cls().seeds))
    text = f"{cls.help(name)} (default: {'none' if default is None else default})"
    choices = cls.choices(name)
    if choices is not None:
        text += "; one of: " + ", ".join("none" if c is None else str(c) for c in choices)
    return text + ("" if _is_whole(hint) else "; several values sweep")


#: the sweep's executor options, shared by ``labkit cll|imbalanced|clip`` and ``labkit reproduce``
SCALE_OPTIONS = ("executor", "workers", "cpus_per_run", "gpus_per_run", "ray_address", "slurm_partition",
                 "timeout_min", "slurm_folder")


def add_scale_options(parser: argparse.ArgumentParser) -> None:
    """Add the flags that choose where a sweep's (configuration, seed) runs go (``SCALE_OPTIONS``)."""
    parser.add_argument("--executor", default="serial", choices=("serial", "process", "ray", "slurm"),
                        help="run the sweep's (configuration, seed) tasks one after another here (serial), in "
                             "--workers spawned processes, one OpenMP thread each (process), as Ray tasks (ray) or "
                             "as one SLURM job array through submitit (slurm); ray and slurm need the cluster "
                             "extra: pip install -e \".[cluster]\"")
    parser.add_argument("--workers", type=int, default=None,
                        help="process: worker processes (default: the CPU cores); ray: CPUs of a Ray started here "
                             "(default: all); slurm: array jobs running at once (default: SLURM's limit)")
    parser.add_argument("--cpus-per-run", type=float, default=1, help="ray, slurm: CPUs of each run (default: 1)")
    parser.add_argument("--gpus-per-run", type=float, default=0,
                        help="ray, slurm: GPUs of each run (default: 0); with ray a fraction such as 0.25 packs "
                             "four runs onto one GPU, SLURM jobs take whole GPUs")
    parser.add_argument("--ray-address", default=None,
                        help="ray: the cluster to join (auto, ray://head:10001; default: RAY_ADDRESS, else start "
                             "Ray on this machine)")
    parser.add_argument("--slurm-partition", default=None, help="slurm: the partition (default: the cluster's)")
    parser.add_argument("--timeout-min", type=int, default=60,
                        help="slurm: minutes after which a run's job is killed (default: 60)")
    parser.add_argument("--slurm-folder", default=None,
                        help="slurm: job scripts, logs and results, on a file system the nodes share (default: "
                             "<stem>.slurm beside --out, else ./labkit-slurm)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="{" + ",".join([*COMMANDS, *OWN_PARSERS]) + "}")
    for name, (fn_name, cls) in COMMANDS.items():
        fn = getattr(experiments, fn_name)
        doc = fn.__doc__ or ""
        sp = sub.add_parser(name, help=doc.strip().split("\n")[0], description=doc.strip().split("\n\n")[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        for field, hint in cls.types().items():
            flag = "--" + field.replace("_", "-")
            if _is_whole(hint):
                elem = _parser_for(typing.get_args(hint)[0])
                sp.add_argument(flag, dest=field, nargs="+", type=elem, default=None, metavar="N",
                                help=_help(cls, field, hint))
            else:
                sp.add_argument(flag, dest=field, nargs="+", type=_parser_for(hint), default=None,
                                metavar=field.upper(), help=_help(cls, field, hint))
        if cls.PRESETS:
            sp.add_argument("--preset", default=None, choices=list(cls.PRESETS),
                            help="start from a named protocol; flags given beside it override it. "
                                 + "; ".join(f"{k}: {v[0]}" for k, v in cls.PRESETS.items()))
        sp.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: CUDA when available)")
        sp.add_argument("--out", default=None,
                        help="write every row to this .csv or .json file (and <stem>.config.json beside it)")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
        add_scale_options(sp)
        sp.add_argument("--fresh", action="store_true",
                        help="ignore the finished runs an interrupted sweep left beside --out (default: resume them)")
        sp.add_argument("--save-embeddings", metavar="DIR", default=None,
                        help="write each run's learned test-set features (with labels, predictions, images or "
                             "reports) to DIR/<run>/, to open with: labkit explore DIR (docs/explore.md)")
        sp.set_defaults(_fn=fn, _cls=cls)
    for name, what in (("reproduce", "run a paper-scale recipe (labkit reproduce --help)"),
                       ("explore", "open the embedding explorer on your own embeddings (labkit explore --help)")):
        sub.add_parser(name, help=what, add_help=False)  # main() hands these to their own module
    return parser


class SweepFailed(Exception):
    """Some runs of a sweep failed with a user error; the others' rows were kept."""


def run(argv=None) -> list[dict]:
    """Parse ``argv``, check every point and ``--out`` first, run the sweep (resuming a journal left by
    an interrupted run of the same command), print the summary, write ``--out``; returns the rows."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = vars(build_parser().parse_args(argv))
    fn, cls, out, quiet, device = args.pop("_fn"), args.pop("_cls"), args.pop("out"), args.pop("quiet"), \
        args.pop("device")
    args.pop("command")
    preset, fresh = args.pop("preset", None), args.pop("fresh")
    save_embeddings = args.pop("save_embeddings")
    scale = {k: args.pop(k) for k in SCALE_OPTIONS}
    hints = cls.types()
    given = {k: v for k, v in args.items() if v is not None}
    whole = {k: tuple(v) for k, v in given.items() if _is_whole(hints[k])}
    sweep = {k: v for k, v in given.items() if k not in whole}
    combos = list(itertools.product(*sweep.values())) or [()]
    start = cls.preset(preset) if preset else None
    configs = [cls.build(start, **whole, **dict(zip(sweep, combo))) for combo in combos]  # all checked first
    if out:
        experiments.check_output(out)
    if distributed.launched():  # torchrun: join the group first, so that each rank's "cuda" is its own GPU
        from .device import get_device
        distributed.init_process_group(get_device(device))
    result = experiments.sweep(configs, fn, out=out, device=device, progress=not quiet, resume=not fresh,
                               command=["labkit", *argv], save_embeddings=save_embeddings, **scale,
                               log=lambda text: print(text, file=sys.stderr))
    rows = result.rows
    if rows and distributed.is_main():  # under torchrun every rank has the rows; rank 0 alone prints them
        summary = experiments.summarize(rows)
        print(experiments.format_table(_varying(summary, sweep)))
        _print_paired(rows, sweep, cls.METRICS)
    if out and rows and distributed.is_main():
        print(f"wrote {len(rows)} rows to {out} (configurations: {experiments.config_path(out).name})",
              file=sys.stderr)
    if save_embeddings and rows and distributed.is_main():
        print(f"saved each run's test-set embeddings in {save_embeddings}; open them with: labkit explore "
              f"{save_embeddings}", file=sys.stderr)
    if result.failures:
        lines = [f"{len(result.failures)} of {len(rows) + len(result.failures)} runs failed:"]
        for config, seed, message in result.failures:
            varied = ", ".join(f"{k}={config[k]}" for k in sweep if k in config)
            lines.append(f"  {varied + ', ' if varied else ''}seed={seed}: {message}")
        if out:
            lines.append(f"  the finished runs are kept in {experiments.journal_path(out)}: run the same command "
                         f"again to retry only the failed ones")
        raise SweepFailed("\n".join(lines))
    return rows


def _print_paired(rows: list[dict], sweep: dict, metrics) -> None:
    """With one swept option and several seeds: per-seed paired differences against its first value."""
    varied = [k for k, v in sweep.items() if len(v) > 1]
    if len(varied) != 1 or len({r["seed"] for r in rows}) < 2:
        return
    for metric in metrics:
        paired = experiments.paired_differences(rows, varied[0], metric=metric)
        print("\n" + experiments.format_paired(paired, varied[0]))


def _varying(summary: list[dict], sweep: dict) -> list[dict]:
    """Drop configuration columns that are the same in every row (the full rows go to --out)."""
    metrics = {k[:-4] for k in summary[0] if k.endswith("_std")}
    keep = [k for k in summary[0] if k.endswith("_std") or k in metrics or k == "n" or k in sweep
            or len({repr(r.get(k)) for r in summary}) > 1]
    return [{k: r[k] for k in keep if k in r} for r in summary]


#: commands whose module parses its own arguments: name -> module (imported only when chosen)
OWN_PARSERS = {"reproduce": "labkit.recipes", "explore": "labkit.app"}


def main(argv=None) -> int:
    """Exit status 0 on success; 2 with one line (or the list of failed runs) for any user error — a bad
    option, a dataset that is not there, a run that diverged, an output that cannot be written. A bug
    still shows its traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in OWN_PARSERS:
        import importlib
        return importlib.import_module(OWN_PARSERS[argv[0]]).main(argv[1:])
    try:
        run(argv)
    except SweepFailed as exc:
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 2
    except experiments.USER_ERRORS as exc:
        print(f"labkit: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    return 0


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
