"""Where a sweep's tasks run: here, spawned processes, Ray tasks, or SLURM jobs through submitit.

Every executor here is used the same way by :func:`~labkit.experiments.sweep`: ``submit(fn, *args)``
returns a :class:`concurrent.futures.Future`, so finished tasks are collected with
``concurrent.futures.as_completed`` whatever runs them. An executor with ``submit_array(fn, arglists)``
(SLURM) receives all tasks at once, as one job array. Ray and submitit are imported only when chosen;
they come with the optional ``cluster`` extra.

A task that the cluster lost (a Ray worker that crashed or ran out of memory, a SLURM job that timed
out or was cancelled) comes back as ``("error", message)``, like a user error: the sweep reports it
with its configuration and keeps the others, and running the sweep again retries it. An exception
raised by the task's own code is a bug and propagates, as it does in one process.
"""
from __future__ import annotations

import concurrent.futures as cf
import importlib
import math
import os
import shutil
import threading
import time
from pathlib import Path

__all__ = ["EXECUTORS", "EXTRA", "make_executor", "submit_all", "RayExecutor", "SlurmExecutor"]

EXECUTORS = ("serial", "process", "ray", "slurm")
EXTRA = 'install the cluster extra: pip install -e ".[cluster]"'


def _require(module: str, executor: str):
    """Import Ray or submitit for the executor that needs it, or say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(f"executor {executor!r} needs the {module} package; {EXTRA}") from None


def _check_resources(cpus_per_run, gpus_per_run) -> tuple[float, float]:
    for value, name in ((cpus_per_run, "cpus_per_run"), (gpus_per_run, "gpus_per_run")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if cpus_per_run <= 0:
        raise ValueError(f"cpus_per_run must be > 0, got {cpus_per_run!r}")
    return cpus_per_run, gpus_per_run


def make_executor(executor, *, workers: int | None = None, cpus_per_run: float = 1, gpus_per_run: float = 0,
                  ray_address: str | None = None, slurm_partition: str | None = None, timeout_min: int = 60,
                  slurm_folder: str | Path | None = None):
    """``(executor object, owned)`` for a name of :data:`EXECUTORS` (owned: the sweep shuts it down) or
    an object with ``submit(fn, *args)`` (used as given). Everything is checked before any work."""
    if executor == "process":
        return process_pool(workers), True
    if executor == "ray":
        return RayExecutor(address=ray_address, workers=workers, cpus_per_run=cpus_per_run,
                           gpus_per_run=gpus_per_run), True
    if executor == "slurm":
        return SlurmExecutor(slurm_folder or "labkit-slurm", partition=slurm_partition, timeout_min=timeout_min,
                             cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run, workers=workers), True
    if isinstance(executor, str) or not callable(getattr(executor, "submit", None)):
        got = repr(executor) if isinstance(executor, str) else f"a {type(executor).__name__}"
        raise ValueError(f"executor must be one of {', '.join(map(repr, EXECUTORS))} or an object with "
                         f"submit(fn, *args), got {got}")
    return executor, False


def process_pool(workers: int | None):
    """Spawned worker processes with one OpenMP thread each (threads fight for cores otherwise)."""
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


def submit_all(executor, fn, arglists: list[tuple]) -> list[cf.Future]:
    """Submit ``fn(*args)`` for every ``args``: as one array when the executor can, else one by one."""
    if callable(getattr(executor, "submit_array", None)):
        return executor.submit_array(fn, arglists)
    return [executor.submit(fn, *args) for args in arglists]


class RayExecutor:
    """Ray tasks, ``ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run)``.

    Connects to ``address`` (``"auto"``, ``"ray://head:10001"``, or ``RAY_ADDRESS``), or starts Ray on
    this machine with ``workers`` CPUs (default: all); nothing is started when Ray is already
    initialised in this process. A fractional ``gpus_per_run`` (0.25: four runs share one card) packs
    small runs onto a GPU; Ray sets ``CUDA_VISIBLE_DEVICES`` of each task, so ``device="cuda"`` is the
    task's card. Unless it is set already, Ray sets each task's ``OMP_NUM_THREADS`` to its ``num_cpus``.
    """

    def __init__(self, address: str | None = None, workers: int | None = None, cpus_per_run: float = 1,
                 gpus_per_run: float = 0):
        cpus_per_run, gpus_per_run = _check_resources(cpus_per_run, gpus_per_run)
        if workers is not None:
            from .._validation import positive_int
            workers = positive_int(workers, "workers")
        self._ray = ray = _require("ray", "ray")
        self._options = {"num_cpus": cpus_per_run, "num_gpus": gpus_per_run}
        self._remote, self._refs = {}, []
        self.owned = not ray.is_initialized()
        if self.owned:
            address = address or os.environ.get("RAY_ADDRESS")
            if address:
                ray.init(address=address)
            else:
                ray.init(num_cpus=workers, include_dashboard=False)

    def submit(self, fn, *args) -> cf.Future:
        if fn not in self._remote:
            self._remote[fn] = self._ray.remote(**self._options)(fn)
        ref = self._remote[fn].remote(*args)
        self._refs.append(ref)
        return _translated(ref.future(), self._lost)

    def _lost(self, exc: BaseException):
        """A task lost by the cluster (not an exception of the task's code): its error message."""
        errors = self._ray.exceptions
        if isinstance(exc, errors.RayError) and not isinstance(exc, errors.RayTaskError):
            return f"Ray lost the task ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})"
        return None

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for ref in self._refs:
                try:
                    self._ray.cancel(ref)
                except Exception:  # already finished or gone: nothing to cancel
                    pass
        if self.owned and self._ray.is_initialized():
            self._ray.shutdown()


class SlurmExecutor:
    """SLURM jobs through submitit: all tasks of a sweep are one job array (``executor.batch()``).

    Each array element is one run with ``cpus_per_run`` CPUs and ``gpus_per_run`` whole GPUs, in
    ``partition``, killed after ``timeout_min`` minutes; at most ``workers`` run at once
    (``slurm_array_parallelism``; default: SLURM's). Job scripts, logs and pickled results go to
    ``folder`` (on a file system the compute nodes share). Jobs are polled every ``poll_s`` seconds
    and each one's future completes when it is done. ``cluster="local"`` runs the jobs as local
    processes with submitit's LocalExecutor (for trying a sweep without SLURM, and for tests).
    """

    def __init__(self, folder: str | Path, partition: str | None = None, timeout_min: int = 60,
                 cpus_per_run: float = 1, gpus_per_run: float = 0, workers: int | None = None,
                 cluster: str = "slurm", poll_s: float = 2.0):
        cpus_per_run, gpus_per_run = _check_resources(cpus_per_run, gpus_per_run)
        if gpus_per_run != int(gpus_per_run) or cpus_per_run != int(cpus_per_run):
            raise ValueError(f"a SLURM job takes whole CPUs and GPUs, got cpus_per_run={cpus_per_run}, "
                             f"gpus_per_run={gpus_per_run}; fractional GPUs are for executor 'ray'")
        if isinstance(timeout_min, bool) or not isinstance(timeout_min, int) or timeout_min < 1:
            raise ValueError(f"timeout_min must be a whole number of minutes >= 1, got {timeout_min!r}")
        submitit = _require("submitit", "slurm")
        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise ValueError("executor 'slurm' needs SLURM's sbatch on PATH: run the sweep on the cluster's "
                             "login node (or use executor 'process' or 'ray' here)")
        self.folder = Path(folder)
        self._poll_s = poll_s
        self._executor = submitit.AutoExecutor(folder=self.folder, cluster=cluster)
        params = {"name": "labkit-sweep", "timeout_min": timeout_min, "cpus_per_task": int(cpus_per_run),
                  "gpus_per_node": int(gpus_per_run), "tasks_per_node": 1, "nodes": 1}
        if partition:
            params["slurm_partition"] = partition
        if workers is not None:
            params["slurm_array_parallelism"] = workers
        self._executor.update_parameters(**params)
        self._jobs: list[tuple[object, cf.Future]] = []
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._uncompleted = importlib.import_module("submitit.core.utils").UncompletedJobError
        self._failed = importlib.import_module("submitit.core.utils").FailedJobError

    def submit(self, fn, *args) -> cf.Future:
        return self.submit_array(fn, [args])[0]

    def submit_array(self, fn, arglists: list[tuple]) -> list[cf.Future]:
        with self._executor.batch():
            jobs = [self._executor.submit(fn, *args) for args in arglists]
        futures = [cf.Future() for _ in jobs]
        with self._lock:
            self._jobs.extend(zip(jobs, futures))
            if self._watcher is None or not self._watcher.is_alive():
                self._watcher = threading.Thread(target=self._watch, name="labkit-slurm-poll", daemon=True)
                self._watcher.start()
        return futures

    def _watch(self) -> None:
        """Complete each job's future once submitit says it is done; stop when none is left."""
        while True:
            with self._lock:
                pending = [(job, future) for job, future in self._jobs if not future.done()]
                if not pending:
                    self._watcher = None
                    return
            for job, future in pending:
                if job.done():
                    self._complete(job, future)
            time.sleep(self._poll_s)

    def _complete(self, job, future: cf.Future) -> None:
        try:
            result = job.result()
        except self._failed as exc:  # the task's own code raised: a bug, as in one process
            outcome = ("exception", exc)
        except self._uncompleted as exc:  # timed out, cancelled, killed: no result, the others go on
            text = " ".join(str(exc).split())[:300]
            outcome = ("result", ("error", f"SLURM job {job.job_id} ended without a result ({text}); "
                                           f"its logs are in {self.folder}"))
        else:
            outcome = ("result", result)
        try:
            if outcome[0] == "exception":
                future.set_exception(outcome[1])
            else:
                future.set_result(outcome[1])
        except cf.InvalidStateError:  # cancelled meanwhile
            pass

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """With ``cancel_futures``: cancel the jobs that have not finished (an interrupted sweep)."""
        if not cancel_futures:
            return
        with self._lock:
            pending = [(job, future) for job, future in self._jobs if not future.done()]
        for job, future in pending:
            future.cancel()
            try:
                job.cancel(check=False)
            except Exception:  # the job finished or the scheduler is gone: nothing to cancel
                pass


def _translated(future: cf.Future, lost) -> cf.Future:
    """A future that completes with ``("error", message)`` when ``lost(exception)`` names the
    exception a cluster failure, and otherwise exactly as ``future`` does."""
    out = cf.Future()

    def done(source: cf.Future) -> None:
        if source.cancelled():
            out.cancel()
            return
        exc = source.exception()
        message = lost(exc) if exc is not None else None
        try:
            if message is not None:
                out.set_result(("error", message))
            elif exc is not None:
                out.set_exception(exc)
            else:
                out.set_result(source.result())
        except cf.InvalidStateError:
            pass

    future.add_done_callback(done)
    return out
