"""The ``labkit`` command: ``labkit cll|imbalanced|clip [--flag value ...] [--out results.csv]``.

Every keyword argument of the matching ``run_*`` function in :mod:`labkit.experiments` is a flag
(``batch_size`` -> ``--batch-size``). A flag given several values sweeps them (the grid of all
combinations); ``--seeds 0 1 2`` is passed whole. Rows are written to ``--out`` (CSV or JSON) and a
mean ± std summary table is printed.
"""
from __future__ import annotations

import argparse
import inspect
import itertools
import sys

from . import experiments

COMMANDS = {"cll": "run_cll", "imbalanced": "run_imbalanced", "clip": "run_clip"}
_HIDDEN = {"progress"}


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


def _value_type(param: inspect.Parameter):
    default, note = param.default, str(param.annotation)
    if isinstance(default, bool) or note.startswith("bool"):
        return _bool
    if isinstance(default, int) or note.startswith("int"):
        return int
    if isinstance(default, float) or note.startswith("float"):
        return float
    return _auto


def _is_whole(param: inspect.Parameter) -> bool:
    """Parameters that take a list as ONE value (seeds, lr pairs), not a sweep."""
    return isinstance(param.default, (tuple, list)) or "Sequence" in str(param.annotation)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    for name, fn_name in COMMANDS.items():
        fn = getattr(experiments, fn_name)
        doc = inspect.getdoc(fn) or ""
        sp = sub.add_parser(name, help=doc.split("\n")[0], description=doc,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        for param in inspect.signature(fn).parameters.values():
            if param.kind is not inspect.Parameter.KEYWORD_ONLY or param.name in _HIDDEN:
                continue
            flag = "--" + param.name.replace("_", "-")
            if _is_whole(param):
                elem = int if param.name == "seeds" else _auto
                sp.add_argument(flag, dest=param.name, nargs="+", type=elem, default=None,
                                help=f"one value, given as a list (default {param.default!r})")
            else:
                sp.add_argument(flag, dest=param.name, nargs="+", type=_value_type(param), default=None,
                                help=f"default {param.default!r}; several values sweep them")
        sp.add_argument("--out", default=None, help="write every row to this .csv or .json file")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
        sp.set_defaults(_fn=fn)
    return parser


def run(argv=None) -> list[dict]:
    """Parse ``argv``, run the grid, print the summary, write ``--out``; returns the rows."""
    args = vars(build_parser().parse_args(argv))
    fn, out, quiet = args.pop("_fn"), args.pop("out"), args.pop("quiet")
    args.pop("command")
    whole = {k: (tuple(v) if k == "seeds" else v) for k, v in args.items()
             if v is not None and _is_whole(inspect.signature(fn).parameters[k])}
    sweep = {k: v for k, v in args.items() if v is not None and k not in whole}
    rows = []
    combos = list(itertools.product(*sweep.values())) or [()]
    for i, combo in enumerate(combos, 1):
        setting = dict(zip(sweep, combo))
        label = ", ".join(f"{k}={v}" for k, v in setting.items()) or "defaults"
        print(f"[{i}/{len(combos)}] {label}", file=sys.stderr)
        rows += fn(**whole, **setting, progress=not quiet)
    summary = experiments.summarize(rows)
    print(experiments.format_table(_varying(summary, sweep)))
    if out:
        path = experiments.save_rows(rows, out)
        print(f"wrote {len(rows)} rows to {path}", file=sys.stderr)
    return rows


def _varying(summary: list[dict], sweep: dict) -> list[dict]:
    """Drop configuration columns that are the same in every row (the full rows go to --out)."""
    metrics = {k[:-4] for k in summary[0] if k.endswith("_std")}
    keep = [k for k in summary[0] if k.endswith("_std") or k in metrics or k == "n" or k in sweep
            or len({repr(r.get(k)) for r in summary}) > 1]
    return [{k: r[k] for k in keep if k in r} for r in summary]


def main(argv=None) -> int:
    try:
        run(argv)
    except ValueError as exc:
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
