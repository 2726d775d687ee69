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
    assert (tmp_path / "r.config.json").is_file() and (tmp_path / "out" / "r.config.json").is_file()
    assert oct(csv_path.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode


def test_value_parsing_and_every_field_has_a_flag_with_help():
    assert cli._auto("none") is None and cli._auto("3") == 3 and cli._auto("0.5") == 0.5
    assert cli._auto("scl-nl") == "scl-nl" and cli._auto("True") is True
    parser = cli.build_parser()
    for command, (fn_name, cls) in cli.COMMANDS.items():
        sub = parser._subparsers._group_actions[0].choices[command]
        actions = {a.dest: a for a in sub._actions}
        for field in cls.options():
            assert field in actions, f"{command}: no flag for {field}"
            flag = actions[field]
            assert flag.option_strings == ["--" + field.replace("_", "-")]
            assert cls.help(field) and flag.help.startswith(cls.help(field)) and "default:" in flag.help, field
        assert {"device", "out", "quiet"} <= set(actions)
        assert getattr(experiments, fn_name)  # the runner exists


def test_flags_are_typed_from_the_annotations():
    parser = cli.build_parser()
    args = parser.parse_args(["cll", "--epochs", "none", "5", "--lr", "1e-3", "--augment", "none", "icm",
                              "--seeds", "0", "1"])
    assert args.epochs == [None, 5] and args.lr == [0.001] and args.augment == [None, "icm"]
    assert args.seeds == [0, 1]
    args = parser.parse_args(["clip", "--freeze-text", "false", "--n-pairs", "none"])
    assert args.freeze_text == [False] and args.n_pairs == [None]
    with pytest.raises(SystemExit):  # "abc" is not an int: argparse exits with status 2
        parser.parse_args(["cll", "--epochs", "abc"])
    help_text = " ".join(parser._subparsers._group_actions[0].choices["cll"].format_help().split())
    assert "one of: pc, scl-nl" in help_text and "several values sweep" in help_text


def test_a_sweep_is_checked_whole_before_the_first_run(capsys):
    # the second point is bad: nothing runs, one clear line, exit 2
    assert cli.main(["imbalanced", "--strategy", "erm", "--epochs", "1", "0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "epochs must be an integer >= 1" in err and "[1/" not in err


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
