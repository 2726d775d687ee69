"""Rows, summaries and paired differences: hand-made rows with known answers."""
import json
import math

import pytest
from scipy import stats

from labkit.experiments import (CLLConfig, ImbalancedConfig, format_paired, format_table, load_rows, paired_differences,
                                save_rows, summarize)


def _rows(levels: dict, factor="augment", metric="test_accuracy"):
    return [{"experiment": "cll", factor: level, "seed": s, metric: v}
            for level, values in levels.items() for s, v in enumerate(values)]


def test_paired_differences_match_a_hand_computed_t_interval():
    rows = _rows({"none": [0.70, 0.80, 0.60, 0.75], "mixup": [0.65, 0.78, 0.50, 0.76]})
    (p,) = paired_differences(rows, "augment", by=[])
    d = [-0.05, -0.02, -0.10, 0.01]
    mean = sum(d) / 4
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 3)
    half = stats.t.ppf(0.975, 3) * sd / 2
    assert p["augment"] == "mixup" and p["baseline"] == "none" and p["n_pairs"] == 4
    assert p["mean_diff"] == pytest.approx(mean) and p["diff_std"] == pytest.approx(sd)
    assert (p["ci_low"], p["ci_high"]) == (pytest.approx(mean - half), pytest.approx(mean + half))
    assert (p["wins"], p["losses"], p["ties"]) == (1, 3, 0)
    assert p["per_seed"] == {0: pytest.approx(-0.05), 1: pytest.approx(-0.02), 2: pytest.approx(-0.10),
                             3: pytest.approx(0.01)}
    assert "mixup − none: -0.040" in format_paired([p], "augment") and "better on 1 of 4 seeds" in \
        format_paired([p], "augment")


def test_pairs_are_matched_on_the_seed_not_the_row_order():
    rows = _rows({"none": [0.5, 0.9], "icm": [0.6, 1.0]})
    rows[2], rows[3] = rows[3], rows[2]  # icm's seeds arrive in the other order
    (p,) = paired_differences(rows, "augment", baseline="none", by=[])
    assert p["mean_diff"] == pytest.approx(0.1) and p["diff_std"] == pytest.approx(0.0, abs=1e-12)
    assert p["wins"] == 2


def test_other_configuration_columns_form_separate_comparisons_and_nan_pairs_are_counted():
    rows = _rows({"none": [0.5, 0.6, 0.7], "mixup": [0.4, float("nan"), 0.8]})
    rows += [{**r, "method": "fwd"} for r in rows]
    for r in rows[:6]:
        r["method"] = "scl-nl"
    out = paired_differences(rows, "augment", by=["method"])
    assert [p["method"] for p in out] == ["scl-nl", "fwd"]
    assert all(p["n_pairs"] == 2 and p["n_nan"] == 1 for p in out)
    with pytest.raises(ValueError, match="baseline"):
        paired_differences(rows, "augment", baseline="icm")
    with pytest.raises(ValueError, match="column"):
        paired_differences(rows, "loss")


def test_a_diverged_run_is_shown_not_averaged_away():
    rows = _rows({"none": [0.9, float("nan"), float("nan")]})
    (s,) = summarize(rows, by=["augment"])
    assert s["n"] == 3 and s["test_accuracy"] == pytest.approx(0.9) and s["test_accuracy_nan"] == 2
    assert "0.900 ± 0.000 (2 NaN)" in format_table([s])


def test_save_rows_writes_the_configurations_with_their_seeds(tmp_path):
    a = {**CLLConfig(method="fwd").row(), "seed": 0, "test_accuracy": 0.5}
    b = {**CLLConfig(method="fwd").row(), "seed": 1, "test_accuracy": 0.6}
    c = {**CLLConfig(method="pc").row(), "seed": 0, "test_accuracy": 0.4}
    save_rows([a, b, c], tmp_path / "r.csv", command=["labkit", "cll", "--method", "fwd", "pc"])
    meta = json.loads((tmp_path / "r.config.json").read_text())
    assert meta["command"] == ["labkit", "cll", "--method", "fwd", "pc"] and meta["rows"] == 3
    configs = meta["configurations"]
    assert [(x["method"], x["seeds"]) for x in configs] == [("fwd", [0, 1]), ("pc", [0])]
    assert set(configs[0]) - {"seeds"} == set(CLLConfig().row())
    assert "torch" in meta and "labkit" in meta


def test_presets_are_named_protocols_that_flags_override():
    for cls in (CLLConfig, ImbalancedConfig):
        for name, (text, values) in cls.PRESETS.items():
            config = cls.preset(name)
            assert text and all(getattr(config, k) == (tuple(v) if isinstance(v, list) else v)
                                for k, v in values.items())
    with pytest.raises(ValueError, match="unknown preset"):
        CLLConfig.preset("nope")


def test_load_rows_restores_what_save_rows_wrote(tmp_path):
    rows = [{"experiment": "cll", "augment": None, "alpha": 1.0, "epochs": 3, "freeze": True, "seed": 0,
             "per_class": [0.5, 1.0], "method": "scl-nl"}]
    for suffix in (".csv", ".json"):
        save_rows(rows, tmp_path / f"r{suffix}")
        assert load_rows(tmp_path / f"r{suffix}") == rows


def test_format_paired_names_the_group_of_each_line():
    rows = _rows({"none": [0.5, 0.6], "mixup": [0.4, 0.5]})
    rows += [{**r, "method": "fwd"} for r in rows]
    for r in rows[:4]:
        r["method"] = "scl-nl"
    text = format_paired(paired_differences(rows, "augment", by=["method"]), "augment")
    assert "method=scl-nl: mixup − none" in text and "method=fwd: mixup − none" in text
