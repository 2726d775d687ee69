"""Sweep executors: ``process`` with 2 workers vs ``serial`` on 8 small CLL runs, and Ray's overhead per task.

(a) 8 runs (digits, MLP, scl-nl / fwd / ure-ga / dm × 2 seeds, 60 epochs each) one after another in this
    process vs in 2 spawned worker processes, alternating, best of 2 each (other jobs on a shared
    machine slow one or the other); the workers' start-up (spawning, importing torch and labkit,
    loading the dataset: one 1-epoch run each, as this process had its own warm-up run) is timed
    apart and counted in the total, since a user pays it. Target: speed-up >= 1.7x on 2 idle cores.
(b) the cost of one task itself: 32 tasks whose runner returns a row at once, through the process
    pool and through Ray (a local Ray with --workers CPUs), after each has started; per task = wall / 32.
    Ray's start-up is printed apart. Skipped with a message when Ray is not installed.
The rows of (a) are checked equal across executors (all but ``seconds``).
Run: ``OMP_NUM_THREADS=1 python benchmarks/sweep.py [--workers 2] [--quick] [--no-ray] [--device cpu]``.
"""
from __future__ import annotations

import argparse
import os
import time

from labkit.experiments import CLLConfig, sweep
from labkit.experiments.executors import RayExecutor, process_pool


def instant_row(config, *, device=None, progress=False) -> list[dict]:
    """A runner that does no work: what remains of a task's time is the executor's overhead."""
    return [{**config.row(), "seed": config.seeds[0], "test_accuracy": 0.0}]


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _quiet(_text):
    pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="device of the runs (default: cpu)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="15 epochs per run")
    parser.add_argument("--no-ray", action="store_true", help="skip part (b)'s Ray measurement")
    parser.add_argument("--repeats", type=int, default=2, help="(a): best of this many, serial and process alternating")
    args = parser.parse_args(argv)
    epochs = 15 if args.quick else args.epochs
    configs = [CLLConfig(method=m, epochs=epochs, batch_size=64, seeds=(0, 1)) for m in ("scl-nl", "fwd", "ure-ga", "dm")]
    common = dict(device=args.device, progress=False, log=_quiet)
    load_before = os.getloadavg()
    # warm-up in this process (imports, first kernels), as the workers get theirs in their start-up
    sweep([CLLConfig(epochs=1, seeds=(0,))], **common)

    def start_pool():  # spawn the workers, then one 1-epoch run in each: imports, the dataset, first kernels
        pool = process_pool(args.workers)
        sweep([CLLConfig(epochs=1, lr=1e-3 * (1 + i), seeds=(0,)) for i in range(args.workers)], executor=pool, **common)
        return pool

    # serial and process alternate, best of --repeats each: other jobs on a shared machine slow one or the other
    pool, t_start = _timed(start_pool)
    t_serial, t_process = [], []
    try:
        for _ in range(args.repeats):
            serial, t = _timed(lambda: sweep(configs, **common))
            t_serial.append(t)
            parallel, t = _timed(lambda: sweep(configs, executor=pool, **common))
            t_process.append(t)
            assert _strip(serial.rows) == _strip(parallel.rows), "process rows differ from serial rows"
    finally:
        pool.shutdown()
    t_serial, t_process = min(t_serial), min(t_process)
    runs = len(serial.rows)
    print(f"device: {args.device}, cores: {os.cpu_count()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"load average (1, 5, 15 min) {' '.join(f'{x:.1f}' for x in load_before)} before, "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} after (a)")
    print(f"(a) {runs} CLL runs of {epochs} epochs (digits, MLP), best of {args.repeats}: serial {t_serial:.1f} s; "
          f"process x{args.workers}: "
          f"start {t_start:.1f} s + sweep {t_process:.1f} s = {t_start + t_process:.1f} s")
    print(f"    speed-up {t_serial / (t_start + t_process):.2f}x (with start-up), "
          f"{t_serial / t_process:.2f}x (without); rows equal")

    tasks = [CLLConfig(epochs=1, lr=1e-3 * (1 + i), seeds=(0,)) for i in range(32)]
    pool = process_pool(args.workers)
    try:
        _, t_pool = _timed(lambda: sweep(tasks, instant_row, executor=pool, **common))
    finally:
        pool.shutdown()
    print(f"(b) overhead per task: process {1000 * t_pool / len(tasks):.1f} ms ({len(tasks)} tasks that do no work)",
          flush=True)
    if args.no_ray:
        print("    Ray skipped (--no-ray)")
        return
    try:
        import ray  # noqa: F401
    except ImportError:
        print("    Ray skipped: not installed (pip install -e \".[cluster]\")")
        return
    try:
        ray_pool, t_ray_start = _timed(lambda: RayExecutor(workers=args.workers))
    except Exception as exc:  # noqa: BLE001 - a local Ray that cannot start (an overloaded machine) is reported
        print(f"    Ray skipped: it did not start ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})")
        return
    try:
        sweep(tasks[:2], instant_row, executor=ray_pool, **common)  # Ray's workers start on first use
        _, t_ray = _timed(lambda: sweep(tasks, instant_row, executor=ray_pool, **common))
        ray_rows, t_ray_runs = _timed(lambda: sweep(configs, executor=ray_pool, **common))
    finally:
        ray_pool.shutdown()
    assert _strip(ray_rows.rows) == _strip(serial.rows), "Ray rows differ from serial rows"
    print(f"    Ray {1000 * t_ray / len(tasks):.1f} ms per task ({t_ray / t_pool:.1f}x the process pool's); Ray "
          f"start-up {t_ray_start:.1f} s")
    print(f"    the {runs} CLL runs on Ray: {t_ray_runs:.1f} s (process pool {t_process:.1f} s; rows equal)")


if __name__ == "__main__":
    main()
