"""``labkit reproduce``: every recipe's smoke variant runs end to end and writes its rows with the
published number; ``--list``; unknown names and missing data stop with exit status 2 before any
training; the recipes' configurations are the papers' settings they claim."""
import json
import math

import pytest

from labkit import cli
from labkit.experiments import CLLConfig, ImbalancedConfig, load_rows
from labkit.recipes import RECIPES, get_recipe, main


@pytest.fixture
def no_training(monkeypatch):
    """Any call of labkit.fit fails the test: a run must stop before training."""
    import labkit.train

    def fit(*args, **kwargs):
        raise AssertionError("training started")
    monkeypatch.setattr(labkit.train, "fit", fit)


def test_list_names_every_recipe(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == list(RECIPES)
    assert cli.main(["reproduce", "--list"]) == 0  # the labkit command hands it over
    assert capsys.readouterr().out == out
    assert main(["mamix-drw-cifar10-lt", "--describe"]) == 0
    described = capsys.readouterr().out
    recipe = get_recipe("mamix-drw-cifar10-lt")
    assert recipe.deviations in described and all(p.text in described for p in recipe.published)


def test_unknown_or_missing_name_exits_2_with_the_names(capsys, no_training):
    assert main(["icm-mnst"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown recipe 'icm-mnst'" in err
    assert all(name in err for name in RECIPES)
    assert main([]) == 2 and "name a recipe" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(RECIPES))
def test_smoke_variant_runs_and_writes_rows_with_the_published_number(name, tmp_path, capsys):
    recipe = get_recipe(name)
    out = tmp_path / f"{name}.csv"
    assert main([name, "--smoke", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert all(p.text in printed for p in recipe.published)  # printed before the runs
    rows = load_rows(out)
    configs = recipe.configs(smoke=True)
    assert len(rows) == len(configs) == len([r for r in rows if r["recipe"] == f"{name} (smoke)"])
    for row in rows:
        assert math.isfinite(row[recipe.metric]) and row["compare_metric"] == recipe.metric
        published = recipe.published_for(row)
        assert published is not None, f"{name}: a row compares with nothing: {row}"
        assert row["published"] == published.value and row["published_source"] == published.text
    info = json.loads((tmp_path / f"{name}.config.json").read_text())
    assert info["recipe"]["name"] == name and info["recipe"]["smoke"] is True
    assert [p["text"] for p in info["recipe"]["published"]] == [p.text for p in recipe.published]
    assert info["command"][:3] == ["labkit", "reproduce", name]


@pytest.mark.parametrize("name, dataset", [("icm-mnist", "mnist"), ("libcll-cifar10-uniform", "cifar10"),
                                           ("mamix-drw-cifar10-lt", "cifar10")])
def test_real_recipe_without_its_data_stops_before_training(name, dataset, tmp_path, monkeypatch, capsys,
                                                            no_training):
    import labkit.data.downloads as downloads

    def offline(hosts, deadline):
        raise OSError("no network (test)")
    monkeypatch.setattr(downloads, "_check_network", offline)
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "data"))
    out = tmp_path / "r.csv"
    assert main([name, "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"dataset '{dataset}' is not on disk under {tmp_path / 'data'}" in err
    assert "Put the torchvision-layout files there" in err
    assert not out.exists() and not (tmp_path / "r.partial.jsonl").exists()


def test_clip_recipe_with_a_missing_folder_stops_before_training(tmp_path, capsys, no_training):
    assert main(["lumbarclip", "--smoke", "--set", f"folder={tmp_path / 'pairs'}", "--out", str(tmp_path / "r.csv")]) == 2
    assert "no reports.csv in" in capsys.readouterr().err


def test_bad_overrides_exit_2(tmp_path, capsys, no_training):
    assert main(["icm-mnist", "--smoke", "--set", "epochs=-1", "--out", str(tmp_path / "r.csv")]) == 2
    assert "epochs" in capsys.readouterr().err
    assert main(["icm-mnist", "--set", "nonsense=1"]) == 2
    assert "fields: dataset" in capsys.readouterr().err
    assert main(["icm-mnist", "--smoke", "--out", str(tmp_path / "r.txt")]) == 2
    assert ".csv or .json" in capsys.readouterr().err


def test_overrides_and_seeds_reach_the_configurations():
    recipe = get_recipe("mamix-drw-cifar10-lt")
    configs = recipe.configs(seeds=[3], overrides={"strategy": "mamix-drw", "epochs": 10})
    assert len(configs) == 1 and configs[0].strategy == "mamix-drw" and configs[0].epochs == 10
    assert configs[0].seeds == (3,)


def test_recipes_are_the_settings_they_claim():
    for recipe in RECIPES.values():
        configs = recipe.configs()
        assert configs and recipe.source and recipe.published and recipe.data and recipe.deviations
        for config in configs:  # every configuration of the real recipe compares with a published entry
            assert recipe.published_for(config.row()) is not None, (recipe.name, config)
            assert config.seeds == recipe.seeds
        smoke = recipe.configs(smoke=True)
        assert all(len(c.seeds) == 1 for c in smoke)
    for name in ("icm-mnist", "icm-cifar10"):  # the authors' setting, as CLLConfig's preset has it
        config = get_recipe(name).configs()[-1]
        preset = CLLConfig.PRESETS["icm-paper"][1]
        assert {k: getattr(config, k) for k in preset} == preset
        assert (config.batch_size, config.epochs, config.model, config.augment) == (512, 300, "resnet18", "icm")
    mamix = get_recipe("mamix-drw-cifar10-lt").configs()
    package = ImbalancedConfig.PRESETS["package"][1]
    assert all({k: getattr(c.resolved(), k) for k in package} == package for c in mamix)  # DRW from epoch 161
    assert {(c.dataset, c.model, c.ratio, c.batch_size) for c in mamix} == {("cifar10", "resnet32", 100.0, 128)}
    published = {p.where["strategy"]: p.value for p in get_recipe("mamix-drw-cifar10-lt").published}
    assert published["mamix-drw"] == 0.8229 and published["erm"] == 0.7123
    for name in ("libcll-mnist-uniform", "libcll-cifar10-biased"):
        configs = get_recipe(name).configs()
        assert {(c.batch_size, c.epochs, c.lr, c.weight_decay, c.select) for c in configs} == \
            {(256, 300, 1e-4, 0.0, "oracle-accuracy")}
        assert configs[0].seeds == (1207, 9213, 17, 33)
    assert {c.transition for c in get_recipe("libcll-mnist-biased").configs()} == {"weak", "strong"}
    clip = get_recipe("lumbarclip").configs()
    assert {c.vision for c in clip} == {"resnet50", "vit_base_patch16_224", "swin_tiny_patch4_window7_224"}
    assert {c.head for c in clip} == {"linear", "mlp"} and {(c.image_size, c.loss) for c in clip} == {(224, "soft")}


def test_timing_prints_images_per_second(capsys):
    assert main(["libcll-mnist-uniform", "--timing", "--timing-n", "600", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "one epoch of 600 random examples" in out and "images/s" in out
    assert main(["libcll-mnist-uniform", "--timing", "--timing-n", "1"]) == 2


def test_the_task_travels_to_other_processes():
    """process, Ray and SLURM pickle the sweep's runner: a recipe's is a module function and its name."""
    import functools
    import pickle

    from labkit.recipes import run_recipe_task

    task = pickle.loads(pickle.dumps(functools.partial(run_recipe_task, "icm-mnist", True)))
    assert task.func is run_recipe_task and task.args == ("icm-mnist", True)
