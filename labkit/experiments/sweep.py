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
import functools
import json
import os
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from .. import distributed
from .config import resolve_dataset
from .executors import make_executor, submit_all
from .results import RUNNERS, _jsonable, save_rows

__all__ = ["sweep", "SweepResult", "USER_ERRORS", "check_output", "journal_path", "task_key", "run_task",
           "prepare_datasets"]


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
          executor=None, workers: int | None = None, cpus_per_run: float = 1, gpus_per_run: float = 0,
          ray_address: str | None = None, slurm_partition: str | None = None, timeout_min: int = 60,
          slurm_folder: str | Path | None = None, save_embeddings: str | Path | None = None,
          log: Callable[[str], None] = print) -> SweepResult:
    """Run every (configuration, seed) of ``configs`` once; returns rows in task order and failures.

    ``run``: the runner (default: the one of each configuration's story, e.g. ``run_cll``), called as
    ``run(config_with_one_seed, device=..., progress=...)``. With ``out``, finished rows go to the
    journal as they finish and the final file is written at the end (see the module docstring);
    ``resume=False`` ignores an existing journal. A task raising one of ``USER_ERRORS`` is recorded
    as a failure (configuration, seed, message) and the sweep goes on; any other exception is a bug
    and propagates (the journal keeps what finished before it).

    ``executor``: ``None`` or ``"serial"`` (one task after another, here), ``"process"`` (``workers``
    processes of the standard library, started with spawn, one OpenMP thread each), ``"ray"`` (Ray
    tasks with ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs, fractions allowed; Ray started here
    with ``workers`` CPUs, or the cluster at ``ray_address``), ``"slurm"`` (one SLURM job array through
    submitit: ``slurm_partition``, ``timeout_min`` per run, at most ``workers`` at once, files in
    ``slurm_folder``, default ``<stem>.slurm`` beside ``out``), or any object with ``submit(fn, *args)``
    returning a future (a ``concurrent.futures`` executor, a Dask client,
    :class:`~labkit.experiments.executors.SlurmExecutor`). Ray and submitit come with the ``cluster``
    extra (see :mod:`labkit.experiments.executors`). With any executor but serial, named datasets are
    loaded once here before the tasks start. The same seed gives the same row whatever the executor;
    rows are journalled in the order tasks finish and written in task order.

    ``save_embeddings``: a folder where each run writes its learned test-set features, one subfolder
    per (configuration, seed), for ``labkit explore`` (format: :mod:`labkit.app.folder`); checked first.
    """
    if save_embeddings is not None:
        from ..app.folder import check_folder

        run = functools.partial(_with_embeddings, run, str(check_folder(save_embeddings)))
    tasks = [(config, seed) for config in configs for seed in config.seeds]
    keys = [task_key(config, seed) for config, seed in tasks]
    if len(set(keys)) < len(keys):
        raise ValueError("the sweep lists the same configuration and seed more than once")
    journal = journal_path(check_output(out)) if out is not None else None
    if executor not in (None, "serial") and distributed.launched():
        raise ValueError(f"executor {executor!r} cannot run under torchrun: there every process trains each run "
                         "together (data-parallel), one run after another; leave --executor at serial")
    done = _read_journal(journal) if journal is not None and resume else {}
    if not distributed.is_main():  # under torchrun every rank runs the sweep; rank 0 alone logs and writes
        out, journal, log = None, None, (lambda text: None)
    if journal is not None and not resume:
        journal.unlink(missing_ok=True)
    resumed = sum(k in done for k in keys)
    if resumed:
        log(f"resuming: {resumed} of {len(tasks)} runs already finished in {journal}")
    varying = _varying_fields(configs)
    pending = [i for i, k in enumerate(keys) if k not in done]
    failures = {}
    pool, own = None, False
    if executor not in (None, "serial") and pending:
        if executor == "slurm" and slurm_folder is None:
            slurm_folder = Path(out).with_name(f"{Path(out).stem}.slurm") if out is not None else "labkit-slurm"
        pool, own = make_executor(executor, workers=workers, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                                  ray_address=ray_address, slurm_partition=slurm_partition,
                                  timeout_min=timeout_min, slurm_folder=slurm_folder)

    def label(i: int) -> str:
        config, seed = tasks[i]
        text = ", ".join(f"{k}={getattr(config, k)}" for k in varying)
        return f"[{i + 1}/{len(tasks)}] {text + ', ' if text else ''}seed={seed}"

    try:
        if pool is not None:
            prepare_datasets([tasks[i][0] for i in pending], log)
        for i, (status, value) in _outcomes(tasks, pending, run, device, progress, pool, label, log):
            if status == "error":
                failures[i] = (tasks[i][0].row(), tasks[i][1], value)
                log(f"{label(i)} failed: {value}")
                continue
            done[keys[i]] = value
            if journal is not None:
                _append(journal, keys[i], value)
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
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


def _outcomes(tasks, pending, run, device, progress, executor, label, log):
    """Yield ``(task index, outcome)`` for every pending task, as each finishes."""
    if executor is None:
        for i in pending:
            log(label(i))
            yield i, run_task(run, *tasks[i], device, progress)
        return
    import concurrent.futures as cf

    futures = submit_all(executor, run_task, [(run, *tasks[i], device, False) for i in pending])
    futures = dict(zip(futures, pending))
    log(f"submitted {len(futures)} runs")
    for future in cf.as_completed(futures):
        i = futures[future]
        log(f"{label(i)} finished")
        yield i, future.result()


def prepare_datasets(configs: Sequence, log: Callable[[str], None] = print) -> None:
    """Load each named dataset of ``configs`` once, here, before parallel tasks start: a download
    lands in the cache once instead of racing in every worker. A dataset that cannot be had is
    only logged: each of its runs then reports the error with its configuration."""
    names = sorted({c.dataset for c in configs if isinstance(getattr(c, "dataset", None), str)})
    for name in names:
        try:
            resolve_dataset(name)
        except USER_ERRORS as exc:
            log(f"dataset {name!r} could not be prepared ({type(exc).__name__}: {' '.join(str(exc).split())}); "
                f"its runs will report it")


def _varying_fields(configs: Sequence) -> list[str]:
    """The fields whose value differs between the sweep's configurations (shown in its progress)."""
    rows = [c.row() for c in configs]
    return [k for k in rows[0] if len({json.dumps(r.get(k), default=_jsonable) for r in rows}) > 1]


def _with_embeddings(run, folder: str, config, **kw) -> list[dict]:
    """The runner (``run``, else the story's) writing the run's test-set features under ``folder``."""
    return (run or RUNNERS[config.experiment])(config, save_embeddings=folder, **kw)
