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
    # long_tailed_counts are the profile; class_counts what the model trained on, after the validation split
    assert row["long_tailed_counts"] == long_tail_counts(131, 10, 10)
    assert all(0 < n < m for n, m in zip(row["class_counts"], row["long_tailed_counts"]))
    assert row["select"] == "after-drw" and row["chosen_epoch"] == 2  # the only epoch after the switch
    for key in ("last_test_accuracy", "last_few_accuracy"):
        assert 0 <= row[key] <= 1, key
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
                                        (dict(drw_epoch=99), "drw_epoch"), (dict(select="best"), "select"),
                                        (dict(val_fraction=0.0, select="all"), "val_fraction=0"),
                                        (dict(optimizer="sgd"), "optimizer"), (dict(lam_per="pair"), "lam_per"),
                                        (dict(loss_norm="mean"), "loss_norm")])
def test_bad_inputs_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        run_imbalanced(**{**TINY, **bad})


class _Scripted:
    """A stand-in model whose state is the epoch it was saved at."""

    def __init__(self):
        self.epoch = 0

    def state_dict(self):
        return {"epoch": self.epoch}

    def load_state_dict(self, state):
        self.epoch = state["epoch"]


@pytest.mark.parametrize("ties, first, expected", [("later", 1, 7), ("first", 1, 3), ("later", 5, 7),
                                                    ("first", 5, 6), ("later", 8, 8)])
def test_checkpoint_window_and_tie_rule(ties, first, expected):
    from labkit.train import BestCheckpoint

    # validation saturates early: 0.9 first reached at epoch 3, again at 6 and 7, then a drop at 8
    scores = {1: 0.5, 2: 0.8, 3: 0.9, 4: 0.85, 5: 0.88, 6: 0.9, 7: 0.9, 8: 0.7}
    model = _Scripted()
    selector = BestCheckpoint(lambda m: {"balanced_accuracy": scores[m.epoch]}, key="balanced_accuracy",
                              mode="max", first_epoch=first, ties=ties)
    for epoch in scores:
        model.epoch = epoch
        record = {}
        selector(epoch, model, record)
        assert ("val_balanced_accuracy" in record) == (epoch >= first)  # epochs before the window: not scored
    model.epoch = 99
    assert selector.best_epoch == expected and selector.restore(model).epoch == expected


def test_after_drw_selection_never_picks_an_epoch_before_the_switch():
    rows = run_imbalanced(strategy="erm", ratio=10, epochs=6, drw_epoch=3, seeds=(0,), progress=False,
                          batch_size=128)
    assert 4 <= rows[0]["chosen_epoch"] <= 6
    old = run_imbalanced(ImbalancedConfig.preset("labkit-old"), ratio=10, epochs=6, drw_epoch=3, seeds=(0,),
                         progress=False, batch_size=128)
    assert 1 <= old[0]["chosen_epoch"] <= 6 and old[0]["select"] == "all"


def test_val_fraction_zero_reports_the_last_epoch_on_the_whole_long_tailed_set():
    (row,) = run_imbalanced(strategy="drw", val_fraction=0, **TINY)
    assert row["select"] == "last" and row["chosen_epoch"] == 2 and math.isnan(row["val_balanced_accuracy"])
    assert row["class_counts"] == row["long_tailed_counts"] == long_tail_counts(131, 10, 10)
    assert row["test_accuracy"] == row["last_test_accuracy"]


@pytest.mark.parametrize("epoch, factor", [(1, 0.2), (3, 0.6), (5, 1.0), (6, 1.0), (160, 1.0), (161, 0.01),
                                           (180, 0.01), (181, 1e-4), (200, 1e-4)])
def test_package_step_schedule_at_given_epochs(epoch, factor):
    from labkit.experiments.imbalanced import step_schedule

    assert step_schedule(epoch, 200) == pytest.approx(factor)


def test_sgd_step_scheduler_gives_the_package_lr_in_each_epoch():
    import torch

    from labkit.experiments.imbalanced import sgd_step_scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    sched = sgd_step_scheduler(200)(opt)
    lrs = {}
    for epoch in range(1, 201):  # fit reads the lr during epoch e, then steps the scheduler
        lrs[epoch] = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    expected = {1: 0.02, 5: 0.1, 6: 0.1, 160: 0.1, 161: 1e-3, 180: 1e-3, 181: 1e-5, 200: 1e-5}
    assert {e: lrs[e] for e in expected} == pytest.approx(expected)


def test_package_preset_is_the_package_protocol():
    config = ImbalancedConfig.preset("package").resolved()
    assert (config.optimizer, config.lr, config.weight_decay, config.epochs, config.drw_epoch) == \
        ("sgd-step", 0.1, 2e-4, 200, 160)
    assert (config.lam_per, config.loss_norm, config.select, config.val_fraction) == ("batch", "batch", "last", 0.0)
    assert ImbalancedConfig.PRESETS["package"][0]  # a one-line description
    (row,) = run_imbalanced(ImbalancedConfig.preset("package", epochs=3, drw_epoch=2, strategy="mamix-drw",
                                                    seeds=(0,)), progress=False)
    assert row["optimizer"] == "sgd-step" and row["chosen_epoch"] == 3 and 0 <= row["test_accuracy"] <= 1


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
