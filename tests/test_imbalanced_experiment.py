"""run_imbalanced: rows, validation, CLI (tiny runs on long-tailed digits)."""
import inspect
import math

import pytest

from labkit import cli
from labkit.data import load_dataset, long_tail_counts
from labkit.experiments import IMBALANCED_STRATEGIES, format_table, run_imbalanced, summarize

TINY = dict(epochs=2, seeds=(0,), progress=False, batch_size=128)


def test_strategies_listed_in_the_issue_are_available():
    for s in ("erm", "reweight-cb", "drw", "ldam-drw", "smote", "soft-smote", "mixup-drw", "remix-drw",
              "mamix-drw"):
        assert s in IMBALANCED_STRATEGIES


def test_signature_is_cli_ready():
    for p in inspect.signature(run_imbalanced).parameters.values():
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, p.name
        assert p.default is not inspect.Parameter.empty, p.name
        assert p.annotation is not inspect.Parameter.empty, p.name


@pytest.mark.parametrize("strategy", ["erm", "ldam-drw", "soft-smote", "mamix-drw"])
def test_one_row_per_seed_with_the_promised_columns(strategy):
    rows = run_imbalanced(strategy=strategy, ratio=10, **TINY)
    assert len(rows) == 1
    row = rows[0]
    assert next(iter(row)) == "experiment" and row["experiment"] == "imbalanced"
    assert row["strategy"] == strategy and row["seed"] == 0 and row["drw_epoch"] == 1
    for key in ("test_accuracy", "many_accuracy", "medium_accuracy", "few_accuracy", "chosen_epoch", "seconds",
                "val_balanced_accuracy"):
        assert isinstance(row[key], (int, float)) and not math.isnan(row[key]), key
    assert 0 <= row["test_accuracy"] <= 1 and 1 <= row["chosen_epoch"] <= 2
    for key in ("per_class_accuracy", "margin_mean", "margin_q05", "margin_min", "class_counts"):
        assert len(row[key]) == 10, key
    assert all(lo <= q <= mu for lo, q, mu in zip(row["margin_min"], row["margin_q05"], row["margin_mean"]))
    # class counts are the long-tailed profile; the test accuracy is on the balanced test set
    assert row["class_counts"] == long_tail_counts(131, 10, 10)
    test = load_dataset("digits", "test")
    per_class_mean = sum(row["per_class_accuracy"]) / 10
    assert abs(per_class_mean - row["test_accuracy"]) < 0.02  # balanced test: near-equal weights
    assert len(test) == 450
    groups = row["groups"]
    assert sorted(groups["many"] + groups["medium"] + groups["few"]) == list(range(10))


def test_same_seed_same_row_and_summary():
    a = run_imbalanced(strategy="mixup-drw", **TINY)
    b = run_imbalanced(strategy="mixup-drw", **TINY)
    assert a[0]["test_accuracy"] == b[0]["test_accuracy"] and a[0]["margin_mean"] == b[0]["margin_mean"]
    table = format_table(summarize(a + b), metrics=["test_accuracy", "few_accuracy"])
    assert "mixup-drw" in table and "±" in table


@pytest.mark.parametrize("bad, match", [(dict(strategy="focal"), "valid: erm"), (dict(ratio=0.5), "ratio"),
                                        (dict(k=0), "k"), (dict(val_fraction=1.5), "val_fraction"),
                                        (dict(drw_epoch=99), "drw_epoch")])
def test_bad_inputs_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        run_imbalanced(**{**TINY, **bad})


def test_cli_runs_and_writes(tmp_path, capsys):
    out = tmp_path / "r.csv"
    rows = cli.run(["imbalanced", "--strategy", "erm", "drw", "--seeds", "0", "--epochs", "1",
                    "--batch-size", "256", "--out", str(out), "--quiet"])
    assert [r["strategy"] for r in rows] == ["erm", "drw"]
    assert out.read_text().startswith("experiment,")
