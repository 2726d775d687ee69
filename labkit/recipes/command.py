"""``labkit reproduce NAME``: run a recipe's sweep with any executor, and print the published number beside it.

``labkit reproduce --list`` names the recipes; ``labkit reproduce NAME --describe`` shows one in full.
``--smoke`` runs the tiny CPU variant (embedded data, seconds); ``--timing`` runs one real-size epoch
on random data of the real shape and prints images/s (no dataset needed). The data a recipe needs
are checked before anything trains; a missing dataset stops the command with the kit's message
saying where to put the files (exit status 2), as any user error does.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from ..cli import SCALE_OPTIONS, _parser_for, add_scale_options
from .catalog import RECIPES, Recipe, get_recipe

__all__ = ["main", "run_recipe_task", "build_parser", "RecipeUnavailable"]


class RecipeUnavailable(Exception):
    """What a recipe needs (pretrained weights, a text tower) cannot be had on this machine."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="labkit reproduce",
                                description="Run a paper's setting (a recipe) as a sweep with any executor, and "
                                            "print the published number to compare with beside its results.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="recipes: " + ", ".join(RECIPES))
    p.add_argument("name", nargs="?", help="the recipe (labkit reproduce --list)")
    p.add_argument("--list", action="store_true", help="name every recipe with its title, and stop")
    p.add_argument("--describe", action="store_true", help="show the recipe's setting, data and comparison, and stop")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true",
                      help="the tiny variant: embedded data, a small network, a few epochs, one seed, CPU unless "
                           "--device is given (seconds)")
    mode.add_argument("--timing", action="store_true",
                      help="time one real-size epoch per network on random data of the real shape and print "
                           "images/s (needs no dataset)")
    p.add_argument("--timing-n", type=int, default=None,
                   help="--timing: examples in the timed epoch (default: the real training set's size)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="replace the recipe's seeds")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="change one field of the configuration (a swept field then takes this one value), "
                        "e.g. --set epochs=50, --set folder=my_pairs (repeatable)")
    p.add_argument("--out", default=None,
                   help="rows as .csv or .json, with <stem>.config.json (default: labkit-reproduce/NAME.csv, "
                        "NAME-smoke.csv with --smoke)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: CUDA when available; cpu with --smoke)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--fresh", action="store_true", help="ignore the runs an interrupted sweep left (default: resume)")
    add_scale_options(p)
    return p


def _overrides(recipe: Recipe, items: list[str]) -> dict:
    """``FIELD=VALUE`` strings -> typed values (the same parsing as ``labkit cll --field value``)."""
    hints = recipe.config_class.types()
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in hints or name == "seeds":
            raise ValueError(f"--set takes FIELD=VALUE with a field of {recipe.config_class.__name__} "
                             f"(not seeds: use --seeds), got {item!r}; fields: {', '.join(hints)}")
        try:
            out[name] = _parser_for(hints[name])(text)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise ValueError(f"--set {item}: {exc}") from None
    return out


def check_data(recipe: Recipe, configs) -> None:
    """Everything the runs read, loaded or reached once here, before any training: the named dataset
    (a missing one raises the kit's DatasetUnavailable, which says where to put it), a folder of pairs,
    pretrained towers (downloaded to their caches when online)."""
    from ..experiments import resolve_dataset

    if recipe.story in ("cll", "imbalanced"):
        for name in dict.fromkeys(c.dataset for c in configs if isinstance(c.dataset, str)):
            resolve_dataset(name)
        return
    from ..experiments.clip import _paired_data

    for folder in dict.fromkeys(c.folder for c in configs if c.folder is not None):
        _paired_data(next(c for c in configs if c.folder == folder))
    from ..clip.encoders import build_text_encoder, build_vision_encoder, list_text_encoders

    try:
        for text in dict.fromkeys(c.text for c in configs if c.text.lower() not in list_text_encoders()):
            build_text_encoder(text)
        for c in {c.vision: c for c in configs if c.pretrained}.values():
            build_vision_encoder(c.vision, pretrained=True, image_size=c.image_size)
    except RuntimeError as exc:
        raise RecipeUnavailable(f"{exc} (with no network: --timing needs no weights, and --set pretrained=false "
                                f"--set text=minilm runs offline: image towers from scratch, the MiniLM text "
                                f"tower that ships with labkit)") from None


def run_recipe_task(name: str, smoke: bool, config, *, device=None, progress: bool = True) -> list[dict]:
    """One (configuration, seed) of recipe ``name`` (the sweep's runner, picklable for any executor):
    the story's runner, each row marked with the recipe and the published number it compares with."""
    from ..experiments import RUNNERS

    recipe = get_recipe(name)
    rows = RUNNERS[recipe.story](config, device=device, progress=progress)
    for row in rows:
        published = recipe.published_for(row)
        row.update(recipe=name + (" (smoke)" if smoke else ""), compare_metric=recipe.metric,
                   published=None if published is None else published.value,
                   published_source=None if published is None else published.text)
    return rows


def _summary(recipe: Recipe, rows: list[dict]) -> str:
    """Mean ± std of the compared metric per swept configuration, beside its published number."""
    from ..experiments import format_table, summarize

    by = list(recipe.sweep)
    summary = summarize(rows, by=by, metrics=[recipe.metric])
    for s in summary:
        published = recipe.published_for(s)
        s["published"] = "-" if published is None or published.value is None else f"{published.value:.4f}"
    return format_table(summary)


def _note_recipe(out: Path, recipe: Recipe, smoke: bool) -> None:
    """Add the recipe and its published numbers to ``<stem>.config.json`` (written by the sweep)."""
    from ..experiments import config_path

    path = config_path(out)
    info = json.loads(path.read_text())
    info["recipe"] = {"name": recipe.name, "smoke": smoke, "title": recipe.title, "source": recipe.source,
                      "metric": recipe.metric, "departs_from_source": recipe.deviations,
                      "published": [{"where": p.where, "value": p.value, "text": p.text} for p in recipe.published]}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(path)


def run(argv) -> int:
    """Parse ``argv`` and do it; user errors raise (see :func:`main`)."""
    from .. import experiments

    args = build_parser().parse_args(argv)
    if args.list:
        for recipe in RECIPES.values():
            print(f"{recipe.name:<24}{recipe.title}")
        return 0
    if args.name is None:
        raise ValueError(f"name a recipe: labkit reproduce NAME; valid names: {', '.join(RECIPES)}")
    recipe = get_recipe(args.name)
    if args.describe:
        print(recipe.describe())
        return 0
    configs = recipe.configs(smoke=args.smoke, seeds=args.seeds, overrides=_overrides(recipe, args.overrides))
    if args.timing:
        from .timing import time_recipe

        if args.timing_n is not None and args.timing_n < 2:
            raise ValueError(f"--timing-n must be at least 2, got {args.timing_n}")
        time_recipe(recipe, configs, device=args.device, n=args.timing_n)
        return 0
    out = Path(args.out or f"labkit-reproduce/{recipe.name}{'-smoke' if args.smoke else ''}.csv")
    experiments.check_output(out)
    runs = sum(len(c.seeds) for c in configs)
    print(f"{recipe.name}{' (smoke)' if args.smoke else ''}: {recipe.title}; {len(configs)} configurations, "
          f"{runs} runs")
    print(f"compare {recipe.metric} with:\n" + "\n".join(f"  {p.text}" for p in recipe.published))
    check_data(recipe, configs)
    device = args.device or ("cpu" if args.smoke else None)
    log = functools.partial(print, file=sys.stderr)
    result = experiments.sweep(configs, functools.partial(run_recipe_task, recipe.name, args.smoke), out=out,
                               device=device, progress=not args.quiet, resume=not args.fresh,
                               command=["labkit", "reproduce", *argv], log=log,
                               **{k: getattr(args, k) for k in SCALE_OPTIONS})
    if result.rows:
        print(_summary(recipe, result.rows))
        _note_recipe(out, recipe, args.smoke)
        print(f"wrote {len(result.rows)} rows to {out}", file=sys.stderr)
    if result.failures:
        lines = [f"{len(result.failures)} of {runs} runs failed:"]
        lines += [f"  {', '.join(f'{k}={c.get(k)}' for k in recipe.sweep)}, seed={seed}: {message}"
                  for c, seed, message in result.failures]
        lines.append(f"  run the same command again to retry only the failed runs")
        raise _Failed("\n".join(lines))
    return 0


class _Failed(Exception):
    """Some runs failed; their messages are printed as they are (several lines)."""


def main(argv=None) -> int:
    """Exit status 0 on success, 2 with one line on stderr for a user error (an unknown recipe, a bad
    ``--set``, a dataset that is not on disk, weights that cannot be downloaded) or the list of
    failed runs. A bug still shows its traceback."""
    from ..experiments import USER_ERRORS

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return run(argv)
    except _Failed as exc:
        print(f"labkit reproduce: error: {exc}", file=sys.stderr)
    except (*USER_ERRORS, RecipeUnavailable) as exc:
        print(f"labkit reproduce: error: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
    return 2
