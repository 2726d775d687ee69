"""Sweep executors beyond one machine: Ray (local, 2 CPUs) and submitit (its local executor) give the
same rows as a serial sweep, resume from the journal, and without the ``cluster`` extra the error says
how to install it. Tests needing Ray or submitit are skipped, with the reason, when it is missing."""
import json
import sys

import pytest

from labkit import cli, experiments
from labkit.experiments import CLLConfig, ImbalancedConfig, journal_path, load_rows, sweep
from labkit.experiments.executors import EXTRA, SlurmExecutor

from test_sweep import fake_run

CONFIGS = [CLLConfig(method=m, seeds=(0, 1, 2)) for m in ("scl-nl", "fwd")]
QUIET = {"log": lambda s: None}


def strip(rows):
    """Rows without their timing, as text (NaN == NaN once written out)."""
    return [json.dumps({k: v for k, v in r.items() if k != "seconds"}, sort_keys=True) for r in rows]


@pytest.mark.parametrize("executor, module", [("ray", "ray"), ("slurm", "submitit")])
def test_without_the_cluster_extra_the_error_says_what_to_install(tmp_path, monkeypatch, capsys, executor, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import ray` now raises ImportError
    with pytest.raises(ValueError, match=r'pip install -e "\.\[cluster\]"'):
        sweep(CONFIGS, fake_run(), executor=executor, **QUIET)
    calls = []
    monkeypatch.setattr(experiments, "run_cll", fake_run(calls))
    assert cli.main(["cll", "--seeds", "0", "--quiet", "--executor", executor, "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert calls == [] and err[-1].startswith("labkit: error:") and EXTRA in err[-1]


def test_cluster_settings_are_checked_before_any_work():
    pytest.importorskip("submitit", reason="submitit comes with the cluster extra: pip install -e '.[cluster]'")
    with pytest.raises(ValueError, match="whole CPUs and GPUs.*'ray'"):
        SlurmExecutor("jobs", gpus_per_run=0.5, cluster="local")
    with pytest.raises(ValueError, match="gpus_per_run must be a number >= 0"):
        SlurmExecutor("jobs", gpus_per_run=-1, cluster="local")
    with pytest.raises(ValueError, match="timeout_min"):
        SlurmExecutor("jobs", timeout_min=0, cluster="local")


def test_slurm_without_sbatch_says_where_to_run(monkeypatch):
    pytest.importorskip("submitit", reason="submitit comes with the cluster extra: pip install -e '.[cluster]'")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ValueError, match="sbatch"):
        sweep(CONFIGS, fake_run(), executor="slurm", **QUIET)


@pytest.mark.slow  # two job processes each import torch and train: 20-40 s on 2 busy cores
def test_submitit_jobs_give_the_same_rows_as_one_process(tmp_path):
    pytest.importorskip("submitit", reason="submitit comes with the cluster extra: pip install -e '.[cluster]'")
    configs = [ImbalancedConfig(strategy=s, epochs=1, batch_size=256, seeds=(0,)) for s in ("erm", "drw")]
    serial = sweep(configs, device="cpu", progress=False, **QUIET)
    jobs = SlurmExecutor(tmp_path / "jobs", cluster="local", poll_s=0.2)  # the same job array, as local processes
    out = tmp_path / "r.csv"
    result = sweep(configs, device="cpu", out=out, executor=jobs, **QUIET)
    assert strip(result.rows) == strip(serial.rows) and not result.failures
    assert [r["strategy"] for r in load_rows(out)] == ["erm", "drw"] and not journal_path(out).exists()
    assert list((tmp_path / "jobs").glob("*_result.pkl"))  # each job left its result and logs there


# The Ray tests are marked slow: starting Ray on this 2-core machine takes about 20 s (once per module)
@pytest.fixture(scope="module")
def local_ray():
    """Ray on this machine with 2 CPUs, started once for the module (it takes about 20 s here)."""
    ray = pytest.importorskip("ray", reason="Ray comes with the cluster extra: pip install -e '.[cluster]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_tasks_give_the_same_rows_as_one_process(local_ray, tmp_path):
    configs = [ImbalancedConfig(strategy=s, epochs=1, batch_size=256, seeds=(0, 1)) for s in ("erm", "drw")]
    serial = sweep(configs, device="cpu", progress=False, **QUIET)
    out = tmp_path / "r.json"
    result = sweep(configs, device="cpu", out=out, executor="ray", **QUIET)
    assert strip(result.rows) == strip(serial.rows) and local_ray.is_initialized()  # not ours: left running
    assert [(r["strategy"], r["seed"]) for r in load_rows(out)] == [(s, i) for s in ("erm", "drw") for i in (0, 1)]


@pytest.mark.slow
def test_a_ray_sweep_resumes_the_journal_and_keeps_failures_apart(local_ray, tmp_path):
    out = tmp_path / "r.csv"
    with pytest.raises(KeyboardInterrupt):
        sweep(CONFIGS, fake_run([], interrupt_at=4), out=out, **QUIET)
    assert len(journal_path(out).read_text().splitlines()) == 3
    failing = fake_run(fail=lambda c, s: c.method == "fwd" and s == 2)
    result = sweep(CONFIGS, failing, out=out, executor="ray", **QUIET)
    assert result.resumed == 3 and len(result.rows) == 5 and journal_path(out).is_file()
    (config, seed, message), = result.failures
    assert (config["method"], seed) == ("fwd", 2) and "FloatingPointError" in message
    result = sweep(CONFIGS, fake_run(), out=out, executor="ray", **QUIET)  # retries only the failed run
    assert result.resumed == 5 and not result.failures and not journal_path(out).exists()
    assert strip(load_rows(out)) == strip(sweep(CONFIGS, fake_run(), **QUIET).rows)


@pytest.mark.slow
def test_a_bug_in_a_ray_task_is_not_swallowed_and_the_cli_runs_on_ray(local_ray, tmp_path, monkeypatch, capsys):
    def broken(config, device=None, progress=True):
        raise ZeroDivisionError("a bug")
    with pytest.raises(ZeroDivisionError):
        sweep(CONFIGS, broken, **QUIET, executor="ray")
    monkeypatch.setattr(experiments, "run_cll", fake_run())
    out = tmp_path / "r.csv"
    assert cli.main(["cll", "--method", "scl-nl", "fwd", "--seeds", "0", "1", "--quiet", "--executor", "ray",
                     "--gpus-per-run", "0", "--out", str(out)]) == 0
    assert [(r["method"], r["seed"]) for r in load_rows(out)] == [("scl-nl", 0), ("scl-nl", 1), ("fwd", 0), ("fwd", 1)]


def test_named_datasets_are_loaded_once_before_parallel_tasks(monkeypatch):
    import concurrent.futures as cf

    sweep_module = sys.modules["labkit.experiments.sweep"]  # the module, not the function of that name
    loaded = []
    monkeypatch.setattr(sweep_module, "resolve_dataset", lambda name: loaded.append(name))
    configs = [CLLConfig(dataset=d, method=m, seeds=(0, 1)) for d in ("digits", "blobs") for m in ("scl-nl", "fwd")]
    with cf.ThreadPoolExecutor(2) as pool:
        result = sweep(configs, fake_run(), executor=pool, **QUIET)
    assert sorted(loaded) == ["blobs", "digits"] and len(result.rows) == 8
    loaded.clear()
    sweep(configs, fake_run(), **QUIET)  # serial: each run loads its own data, nothing is loaded twice at once
    assert loaded == []


def test_a_job_the_cluster_lost_is_a_failed_run_and_a_bug_in_a_job_propagates(tmp_path):
    pytest.importorskip("submitit", reason="submitit comes with the cluster extra: pip install -e '.[cluster]'")
    import concurrent.futures as cf

    from submitit.core.utils import FailedJobError, UncompletedJobError

    class Job:  # what submitit hands back for a job that timed out, and for one whose code raised
        job_id = "123_4"

        def __init__(self, exc):
            self.exc = exc

        def result(self):
            raise self.exc
    jobs = SlurmExecutor(tmp_path / "jobs", cluster="local")
    lost, bug = cf.Future(), cf.Future()
    jobs._complete(Job(UncompletedJobError("Job 123_4 (task: 0) with path ... has not produced any output "
                                           "(state: TIMEOUT)")), lost)
    jobs._complete(Job(FailedJobError("ZeroDivisionError: a bug")), bug)
    status, message = lost.result()
    assert status == "error" and "SLURM job 123_4 ended without a result" in message and "TIMEOUT" in message
    assert str(tmp_path / "jobs") in message and isinstance(bug.exception(), FailedJobError)
