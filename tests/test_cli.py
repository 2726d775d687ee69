import json

import pytest

from labkit import cli, experiments


def test_summarize_mean_and_sample_std():
    rows = [{"experiment": "x", "method": "a", "seed": s, "acc": v} for s, v in enumerate([0.5, 0.7, 0.9])]
    rows.append({"experiment": "x", "method": "b", "seed": 0, "acc": 0.4})
    out = experiments.summarize(rows, by=["method"])
    a = next(r for r in out if r["method"] == "a")
    assert a["n"] == 3 and a["acc"] == pytest.approx(0.7) and a["acc_std"] == pytest.approx(0.2)
    b = next(r for r in out if r["method"] == "b")
    assert b["acc_std"] == 0.0
    assert "0.700 ± 0.200" in experiments.format_table(out)
    with pytest.raises(ValueError):
        experiments.summarize([])


def test_save_rows_csv_and_json(tmp_path):
    rows = [{"a": 1, "b": [1, 2]}, {"a": 2, "c": "x"}]
    csv_path = experiments.save_rows(rows, tmp_path / "out" / "r.csv")
    text = csv_path.read_text().splitlines()
    assert text[0] == "a,b,c" and text[1].startswith('1,"[1, 2]"')
    js = experiments.save_rows(rows, tmp_path / "r.json")
    assert json.loads(js.read_text()) == rows
    assert not list(tmp_path.glob(".*tmp"))
    with pytest.raises(ValueError, match=".csv or .json"):
        experiments.save_rows(rows, tmp_path / "r.txt")


def test_value_parsing_and_parser_has_every_keyword():
    assert cli._auto("none") is None and cli._auto("3") == 3 and cli._auto("0.5") == 0.5
    assert cli._auto("scl-nl") == "scl-nl" and cli._auto("True") is True
    parser = cli.build_parser()
    for command, fn_name in cli.COMMANDS.items():
        import inspect

        fn = getattr(experiments, fn_name)
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in cli._HIDDEN]
        sub = parser._subparsers._group_actions[0].choices[command]
        dests = {a.dest for a in sub._actions}
        assert {p.name for p in params} <= dests
        assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(fn).parameters.values()), \
            f"{fn_name} must not take **kw: every option needs a command-line flag"


def test_resolve_dataset_and_seeds():
    train, test = experiments.resolve_dataset("digits")
    assert experiments.resolve_dataset((train, test))[0] is train
    with pytest.raises(ValueError, match="name"):
        experiments.resolve_dataset(42)
    assert experiments.check_seeds(3) == (3,)
    with pytest.raises(ValueError):
        experiments.check_seeds([])


def test_printed_table_keeps_swept_and_varying_columns_only():
    summary = [{"method": "a", "lr": 0.1, "n": 3, "acc": 0.5, "acc_std": 0.1},
               {"method": "b", "lr": 0.1, "n": 3, "acc": 0.6, "acc_std": 0.2}]
    table = cli._varying(summary, {"method": ["a", "b"]})
    assert list(table[0]) == ["method", "n", "acc", "acc_std"]
    assert "lr" in cli._varying(summary, {"lr": [0.1]})[0]
