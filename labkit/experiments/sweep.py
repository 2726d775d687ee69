"""Run many configurations × seeds as one sweep that never loses a finished run.

A sweep is a list of tasks, one per (configuration, seed). Each finished task's row is appended at
once to a journal beside the output (``r.csv`` -> ``r.partial.jsonl``), so an interrupted or failing
sweep keeps what it finished, and running the same sweep again resumes: tasks already in the journal
are not run again. When every task is done the rows are written, in task order (whatever order they
finished in), to the output file, atomically, with its ``.config.json``, and the journal is removed (kept when a task failed, so that running the
sweep again retries only the failed tasks). A task that fails with a user error (a bad setting found only once the data is known, a diverged
loss, a missing dataset) is reported with its configuration and does not stop the others.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from .results import RUNNERS, _jsonable, save_rows

__all__ = ["sweep", "SweepResult", "USER_ERRORS", "check_output", "journal_path", "task_key", "run_task"]


def _user_errors() -> tuple[type[BaseException], ...]:
    from ..data import DatasetUnavailable

    # FloatingPointError: a diverged loss (fit names epoch and step); OSError: files the user named
    return (ValueError, TypeError, DatasetUnavailable, FloatingPointError, OSError)


USER_ERRORS = _user_errors()


class SweepResult(NamedTuple):
    rows: list[dict]
    failures: list[tuple[dict, int, str]]  # (configuration row, seed, message)
    resumed: int  # tasks whose rows came from the journal


def journal_path(out: str | Path) -> Path:
    """Where finished rows are kept while a sweep runs: ``r.csv`` -> ``r.partial.jsonl``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.partial.jsonl")


def check_output(out: str | Path) -> Path:
    """Check that results can be written to ``out`` BEFORE any training: suffix, not a directory, no
    file in the way of its folder, and a folder (or the first existing ancestor) that is writable."""
    out = Path(out)
    if out.suffix not in (".csv", ".json"):
        raise ValueError(f"--out must end in .csv or .json, got {str(out)!r}")
    if out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a directory; give a file name such as {out / 'results.csv'}")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"--out {str(out)!r} cannot be created: {str(parent)!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {str(out)!r} cannot be written: no write permission in {str(parent)!r}")
    if out.exists() and not os.access(out, os.W_OK):
        raise ValueError(f"--out {str(out)!r} exists and is read-only")
    return out


def task_key(config, seed: int) -> str:
    """A stable identity of one task: the configuration's row (without seeds) and the seed."""
    return json.dumps({**config.row(), "seed": seed}, sort_keys=True, default=_jsonable)


def _read_journal(path: Path) -> dict[str, dict]:
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:  # a line cut short by an interruption: that task runs again
                continue
            done[entry["key"]] = entry["row"]
    return done


def _append(path: Path, key: str, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps({"key": key, "row": row}, default=_jsonable) + "\n")
        f.flush()
        os.fsync(f.fileno())


def sweep(configs: Sequence, run: Callable[..., list[dict]] | None = None, *, out: str | Path | None = None,
          device=None, progress: bool = True, resume: bool = True, command: Sequence[str] | None = None,
          executor=None, workers: int | None = None, log: Callable[[str], None] = print) -> SweepResult:
    """Run every (configuration, seed) of ``configs`` once; returns rows in task order and failures.

    ``run``: the runner (default: the one of each configuration's story, e.g. ``run_cll``), called as
    ``run(config_with_one_seed, device=..., progress=...)``. With ``out``, finished rows go to the
    journal as they finish and the final file is written at the end (see the module docstring);
    ``resume=False`` ignores an existing journal. A task raising one of ``USER_ERRORS`` is recorded
    as a failure (configuration, seed, message) and the sweep goes on; any other exception is a bug
    and propagates (the journal keeps what finished before it).

    ``executor``: ``None`` or ``"serial"`` (one task after another, here), ``"process"`` (``workers``
    processes of the standard library, started with spawn, one OpenMP thread each), or any object
    with ``submit(fn, *args)`` returning a future (a ``concurrent.futures`` executor, a Dask client).
    The same seed gives the same row whatever the executor; rows are journalled in the order tasks
    finish and written in task order.
    """
    tasks = [(config, seed) for config in configs for seed in config.seeds]
    keys = [task_key(config, seed) for config, seed in tasks]
    if len(set(keys)) < len(keys):
        raise ValueError("the sweep lists the same configuration and seed more than once")
    journal = journal_path(check_output(out)) if out is not None else None
    done = _read_journal(journal) if journal is not None and resume else {}
    if journal is not None and not resume:
        journal.unlink(missing_ok=True)
    resumed = sum(k in done for k in keys)
    if resumed:
        log(f"resuming: {resumed} of {len(tasks)} runs already finished in {journal}")
    varying = _varying_fields(configs)
    pending = [i for i, k in enumerate(keys) if k not in done]
    failures = {}

    def label(i: int) -> str:
        config, seed = tasks[i]
        text = ", ".join(f"{k}={getattr(config, k)}" for k in varying)
        return f"[{i + 1}/{len(tasks)}] {text + ', ' if text else ''}seed={seed}"

    for i, (status, value) in _outcomes(tasks, pending, run, device, progress, executor, workers, label, log):
        if status == "error":
            failures[i] = (tasks[i][0].row(), tasks[i][1], value)
            log(f"{label(i)} failed: {value}")
            continue
        done[keys[i]] = value
        if journal is not None:
            _append(journal, keys[i], value)
    rows = [done[k] for k in keys if k in done]
    if out is not None and rows:
        save_rows(rows, out, command=command)
    if journal is not None and not failures:  # with failures the journal stays: a re-run retries only them
        journal.unlink(missing_ok=True)
    return SweepResult(rows, [failures[i] for i in sorted(failures)], resumed)


def run_task(run, config, seed: int, device, progress: bool) -> tuple[str, object]:
    """One task, in whichever process runs it: ``("ok", row)``, or ``("error", message)`` for a user error."""
    runner = run or RUNNERS[config.experiment]
    try:
        (row,) = runner(dataclasses.replace(config, seeds=(seed,)), device=device, progress=progress)
    except USER_ERRORS as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    return "ok", row


def _outcomes(tasks, pending, run, device, progress, executor, workers, label, log):
    """Yield ``(task index, outcome)`` for every pending task, as each finishes."""
    if executor in (None, "serial"):
        for i in pending:
            log(label(i))
            yield i, run_task(run, *tasks[i], device, progress)
        return
    import concurrent.futures as cf

    own = executor == "process"
    if own:
        executor = _process_pool(workers)
    elif isinstance(executor, str):
        raise ValueError(f"executor must be 'serial', 'process' or an object with submit(fn, *args), got {executor!r}")
    elif not callable(getattr(executor, "submit", None)):
        raise ValueError(f"executor must be 'serial', 'process' or an object with submit(fn, *args), "
                         f"got a {type(executor).__name__}")
    try:
        futures = {executor.submit(run_task, run, *tasks[i], device, False): i for i in pending}
        log(f"submitted {len(futures)} runs")
        for future in cf.as_completed(futures):
            i = futures[future]
            log(f"{label(i)} finished")
            yield i, future.result()
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)


def _process_pool(workers: int | None):
    """Spawned worker processes with one OpenMP thread each (threads fight for cores otherwise)."""
    import concurrent.futures as cf
    import multiprocessing

    from .._validation import positive_int

    workers = positive_int(workers if workers is not None else max(1, (os.cpu_count() or 1)), "workers")
    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the spawned workers before torch starts
    try:
        pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        for _ in pool.map(abs, range(workers)):  # start the workers while OMP_NUM_THREADS is set
            pass
    finally:
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous
    return pool


def _varying_fields(configs: Sequence) -> list[str]:
    """The fields whose value differs between the sweep's configurations (shown in its progress)."""
    rows = [c.row() for c in configs]
    return [k for k in rows[0] if len({json.dumps(r.get(k), default=_jsonable) for r in rows}) > 1]
