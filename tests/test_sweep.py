"""Sweeps never lose a finished run: journal, resume, failures kept apart; the CLI's user errors exit 2."""
import json

import pytest

from labkit import cli, experiments
from labkit.data import DatasetUnavailable
from labkit.experiments import CLLConfig, journal_path, load_rows, sweep


def fake_run(calls=None, fail=None, interrupt_at=None):
    """A runner that returns one row computed from the configuration (no training)."""
    def run(config, device=None, progress=True):
        (seed,) = config.seeds
        if calls is not None:
            calls.append((config.method, seed))
            if interrupt_at is not None and len(calls) == interrupt_at:
                raise KeyboardInterrupt
        if fail is not None and fail(config, seed):
            raise FloatingPointError(f"the loss became nan at epoch 3, step 1 ({config.method})")
        return [{**config.row(), "seed": seed, "test_accuracy": 0.5 + 0.01 * seed + (config.method == "fwd") * 0.1}]
    return run


CONFIGS = [CLLConfig(method=m, seeds=(0, 1, 2)) for m in ("scl-nl", "fwd")]


def test_an_interrupted_sweep_resumes_and_ends_as_if_never_interrupted(tmp_path):
    out = tmp_path / "r.csv"
    calls = []
    with pytest.raises(KeyboardInterrupt):
        sweep(CONFIGS, fake_run(calls, interrupt_at=4), out=out, log=lambda s: None)
    journal = journal_path(out)
    assert journal.is_file() and len(journal.read_text().splitlines()) == 3 and not out.exists()
    again = []
    result = sweep(CONFIGS, fake_run(again), out=out, log=lambda s: None)
    assert again == [("fwd", 0), ("fwd", 1), ("fwd", 2)] and result.resumed == 3
    clean = sweep(CONFIGS, fake_run(), out=tmp_path / "clean.csv", log=lambda s: None)
    assert result.rows == clean.rows and load_rows(out) == load_rows(tmp_path / "clean.csv")
    assert not journal.exists()  # finished: the journal is gone
    assert [(r["method"], r["seed"]) for r in load_rows(out)] == [(m, s) for m in ("scl-nl", "fwd") for s in (0, 1, 2)]


def test_a_failed_run_is_reported_and_the_others_are_kept(tmp_path):
    out = tmp_path / "r.json"
    result = sweep(CONFIGS, fake_run(fail=lambda c, s: c.method == "fwd" and s == 1), out=out, log=lambda s: None)
    assert len(result.rows) == 5 and len(result.failures) == 1
    config, seed, message = result.failures[0]
    assert config["method"] == "fwd" and seed == 1 and "FloatingPointError" in message
    assert len(json.loads(out.read_text())) == 5 and journal_path(out).is_file()
    calls = []
    result = sweep(CONFIGS, fake_run(calls), out=out, log=lambda s: None)  # retries only the failed run
    assert calls == [("fwd", 1)] and len(result.rows) == 6 and not result.failures
    assert not journal_path(out).exists()


def test_a_bug_is_not_swallowed(tmp_path):
    def broken(config, device=None, progress=True):
        raise ZeroDivisionError("a bug")
    with pytest.raises(ZeroDivisionError):
        sweep(CONFIGS, broken, out=tmp_path / "r.csv", log=lambda s: None)


def test_the_same_task_twice_is_refused():
    with pytest.raises(ValueError, match="more than once"):
        sweep([CONFIGS[0], CONFIGS[0]], fake_run(), log=lambda s: None)


@pytest.mark.parametrize("make_out, match", [
    (lambda p: p / "r.txt", "must end in .csv or .json"),
    (lambda p: (p / "d.csv").mkdir() or p / "d.csv", "is a directory"),
    (lambda p: (p / "file").write_text("x") and p / "file" / "r.csv", "is a file, not a folder"),
])
def test_the_output_is_checked_before_any_training(tmp_path, capsys, monkeypatch, make_out, match):
    calls = []
    monkeypatch.setattr(experiments, "run_cll", fake_run(calls))
    out = make_out(tmp_path)
    assert cli.main(["cll", "--epochs", "1", "--seeds", "0", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert calls == [] and len(err) == 1 and err[0].startswith("labkit: error: --out") and match in err[0]


def test_user_errors_are_one_line_and_exit_2(monkeypatch, capsys):
    def unavailable(config, device=None, progress=True):
        raise DatasetUnavailable("mnist is not in /nowhere and cannot be downloaded offline;\nuse digits")
    monkeypatch.setattr(experiments, "run_cll", unavailable)
    assert cli.main(["cll", "--seeds", "0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "DatasetUnavailable: mnist is not in /nowhere" in err and "Traceback" not in err


def test_cli_failures_list_each_failed_run_with_its_configuration(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(experiments, "run_cll", fake_run(fail=lambda c, s: c.method == "fwd"))
    out = tmp_path / "r.csv"
    assert cli.main(["cll", "--method", "scl-nl", "fwd", "--seeds", "0", "1", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "2 of 4 runs failed" in err and "method=fwd, seed=0: FloatingPointError" in err
    assert "run the same command again" in err and len(load_rows(out)) == 2


def test_process_workers_give_the_same_rows_as_one_process(tmp_path):
    from labkit.experiments import ImbalancedConfig

    configs = [ImbalancedConfig(strategy=s, epochs=1, batch_size=256, seeds=(0, 1)) for s in ("erm", "drw")]
    serial = sweep(configs, device="cpu", progress=False, log=lambda s: None)
    parallel = sweep(configs, device="cpu", out=tmp_path / "r.csv", executor="process", workers=2,
                     log=lambda s: None)
    def strip(rows):  # NaN == NaN once written out
        return [json.dumps({k: v for k, v in r.items() if k != "seconds"}, sort_keys=True) for r in rows]
    assert strip(parallel.rows) == strip(serial.rows)
    assert [(r["strategy"], r["seed"]) for r in load_rows(tmp_path / "r.csv")] == \
        [("erm", 0), ("erm", 1), ("drw", 0), ("drw", 1)]
    with pytest.raises(ValueError, match="submit"):
        sweep(configs, executor="ray-cluster", log=lambda s: None)
