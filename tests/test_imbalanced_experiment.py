"""run_imbalanced: rows, validation, CLI (tiny runs on long-tailed digits)."""
import dataclasses
import math

import pytest

from labkit import cli
from labkit.data import load_dataset, long_tail_counts
from labkit.experiments import IMBALANCED_STRATEGIES, ImbalancedConfig, format_table, run_imbalanced, summarize

TINY = dict(epochs=2, seeds=(0,), progress=False, batch_size=128)


def test_strategies_listed_in_the_issue_are_available():
    for s in ("erm", "reweight-cb", "drw", "ldam-drw", "smote", "soft-smote", "mixup-drw", "remix-drw",
              "mamix-drw"):
        assert s in IMBALANCED_STRATEGIES


def test_every_option_is_typed_defaulted_and_documented():
    types = ImbalancedConfig.types()
    for f in dataclasses.fields(ImbalancedConfig):
        assert f.default is not dataclasses.MISSING and f.name in types and ImbalancedConfig.help(f.name), f.name
    resolved = ImbalancedConfig(epochs=50).resolved()
    assert resolved.drw_epoch == 40 and ImbalancedConfig(epochs=50, drw_epoch=10).resolved().drw_epoch == 10


@pytest.mark.parametrize("strategy", ["erm", "ldam-drw", "soft-smote", "mamix-drw"])
def test_one_row_per_seed_with_the_promised_columns(strategy):
    rows = run_imbalanced(strategy=strategy, ratio=10, **TINY)
    assert len(rows) == 1
    row = rows[0]
    assert next(iter(row)) == "experiment" and row["experiment"] == "imbalanced"
    assert row["strategy"] == strategy and row["seed"] == 0 and row["drw_epoch"] == 1
    for key in ("test_accuracy", "many_accuracy", "medium_accuracy", "few_accuracy", "chosen_epoch", "seconds",
                "margin_few_over_many",
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


# ------------------------------------------------------------------ notebook-04 figures and widgets

def test_label_weight_curves_pass_through_the_crossover():
    from labkit import plots
    from labkit.mix import mamix_m

    fig = plots.label_weight_curves(5000, 50)
    names = [t.name for t in fig.data]
    assert names[:3] == ["Mixup", "Remix", "MAMix"]
    m = float(mamix_m(5000, 50))
    assert fig.data[3].x[0] == pytest.approx(1 - m) and fig.data[3].y[0] == 0.5
    mamix = fig.data[2]
    i = min(range(len(mamix.x)), key=lambda j: abs(mamix.x[j] - (1 - m)))
    assert mamix.y[i] == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="positive"):
        plots.label_weight_curves(0, 50)


def test_margin_profile_sorts_classes_by_size_and_averages_seeds():
    from labkit import plots

    rows = [{"strategy": "erm", "class_counts": [5, 20, 10], "margin_mean": [1.0, 2.0, 3.0]},
            {"strategy": "erm", "class_counts": [5, 20, 10], "margin_mean": [3.0, 4.0, 5.0]}]
    fig = plots.margin_profile(rows, "margin_mean")
    assert list(fig.data[0].x) == ["1 (n=20)", "2 (n=10)", "0 (n=5)"]
    assert list(fig.data[0].y) == [3.0, 4.0, 2.0]
    with pytest.raises(ValueError, match="stat"):
        plots.margin_profile(rows, "accuracy")


def test_results_table_marks_the_best_mean():
    from labkit import plots

    summary = [{"strategy": "a", "n": 3, "test_accuracy": 0.5, "test_accuracy_std": 0.1, "epoch": 9.0, "epoch_std": 0.0},
               {"strategy": "b", "n": 3, "test_accuracy": 0.7, "test_accuracy_std": 0.0, "epoch": 3.0, "epoch_std": 1.0}]
    cells = plots.results_table(summary, ["test_accuracy", "epoch"]).data[0].cells.values
    assert list(cells[2]) == ["0.500 ± 0.100", "<b>0.700 ± 0.000</b>"]
    assert list(cells[3]) == ["9.000 ± 0.000", "3.000 ± 1.000"]  # not an accuracy: no bold


def test_toy_widget_retrains_and_redraws_in_place():
    from labkit import widgets

    panel = widgets.imbalance_toy_panel(ratio=5, method="erm", epochs=3)
    before = panel.figure.layout.title.text
    panel.controls["method"].value = "smote"
    assert panel.status.value == ""
    assert "smote" in panel.figure.layout.title.text and before != panel.figure.layout.title.text
    assert any(t.name == "synthetic" for t in panel.figure.data)
