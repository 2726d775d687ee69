"""``labkit explore`` (labkit.app) without a browser: every input format, every bad input (exit 2 with
one line, before any server), the port fallback, and a ``--save-embeddings`` round trip."""
import json
import socket

import numpy as np
import pytest
import torch

from labkit import cli
from labkit.app import command, folder, load, page

N, D = 40, 6


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "cache"))


@pytest.fixture(autouse=True)
def _plotly_classes(monkeypatch):
    """page.build sets its JavaScript shims on plotly's FigureWidget and labkit's MapFigure classes
    (the app's kernel serves only the app); restored after each test, so no later test sees them."""
    import plotly.graph_objects as go

    from labkit.figure_fit import MapFigure

    for cls in (go.FigureWidget, MapFigure):  # the value each class holds itself (none: removed again)
        if "_esm" in cls.__dict__:
            monkeypatch.setattr(cls, "_esm", cls.__dict__["_esm"])
        else:
            monkeypatch.setattr(cls, "_esm", "", raising=False)
            monkeypatch.delattr(cls, "_esm")


@pytest.fixture
def feats():
    return np.random.default_rng(0).normal(size=(N, D)).astype(np.float32)


@pytest.fixture
def no_server(monkeypatch):
    """Replace the Voila server by a recorder; returns what it was asked to serve."""
    served = {}

    def fake_serve(notebook, port, open_browser):
        code = json.loads(notebook.read_text())["cells"][0]["source"]
        served.update(port=port, open_browser=open_browser, code=code, notebook=notebook,
                      page=page.build(*_show_args(code)))

    monkeypatch.setattr(command, "serve", fake_serve)
    return served


def _show_args(code: str):
    """The arguments of the show(...) call in the served notebook's cell."""
    call = code.split("show(", 1)[1].rsplit(")", 1)[0]
    return eval(f"(lambda folder, projection, title: (folder, projection, title))({call})")  # noqa: S307


def _run(argv, capsys):
    status = command.main([str(a) for a in argv])
    return status, capsys.readouterr().err


# ----------------------------------------------------------------------------- formats

def test_features_in_every_format(tmp_path, feats):
    np.save(tmp_path / "f.npy", feats)
    torch.save(torch.from_numpy(feats), tmp_path / "t.pt")
    torch.save({"embeddings": torch.from_numpy(feats), "other": 3}, tmp_path / "d.pt")
    np.savetxt(tmp_path / "plain.csv", feats, delimiter=",")
    (tmp_path / "header.csv").write_text(",".join(f"d{i}" for i in range(D)) + "\n"
                                         + "\n".join(",".join(map(str, r)) for r in feats.tolist()))
    np.save(tmp_path / "images3d.npy", feats.reshape(N, 2, 3))  # (N, ...) is flattened
    for name in ("f.npy", "t.pt", "d.pt", "plain.csv", "header.csv", "images3d.npy"):
        b = load.load_inputs(tmp_path / name)
        assert b.n == N and np.allclose(next(iter(b.features.values())), feats, atol=1e-6), name


def test_labels_meta_images_texts(tmp_path, feats):
    np.save(tmp_path / "f.npy", feats)
    names = [f"class {i % 3}" for i in range(N)]
    (tmp_path / "labels.txt").write_text("\n".join(names))
    np.save(tmp_path / "labels.npy", np.arange(N) % 4 + 10)
    (tmp_path / "labels.csv").write_text("label\n" + "\n".join(str(i % 2) for i in range(N)))
    (tmp_path / "meta.csv").write_text("score,group\n" + "\n".join(f"{i / N},g{i % 2}" for i in range(N)))
    np.save(tmp_path / "nhwc.npy", np.random.default_rng(1).random((N, 5, 5, 3)).astype(np.float32))
    (tmp_path / "texts.json").write_text(json.dumps([f"report {i}" for i in range(N)]))
    b = load.load_inputs(tmp_path / "f.npy", labels=tmp_path / "labels.txt", meta=tmp_path / "meta.csv",
                         images=tmp_path / "nhwc.npy", texts=tmp_path / "texts.json")
    assert b.classes == ["class 0", "class 1", "class 2"] and [b.classes[c] for c in b.labels] == names
    assert b.meta["score"].dtype == np.float64 and b.meta["group"][1] == "g1"
    assert b.images.shape == (N, 3, 5, 5) and b.texts[3] == "report 3"
    ints = load.load_inputs(tmp_path / "f.npy", labels=tmp_path / "labels.npy")
    assert ints.classes == ["10", "11", "12", "13"] and ints.labels.tolist()[:5] == [0, 1, 2, 3, 0]
    assert load.load_inputs(tmp_path / "f.npy", labels=tmp_path / "labels.csv").classes == ["0", "1"]


def test_image_folder_becomes_thumbnails(tmp_path, feats):
    from PIL import Image

    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(N):
        Image.new("RGB", (30 + i, 20), (i * 5, 0, 0)).save(pics / f"{i:03d}.png")
    np.save(tmp_path / "f.npy", feats)
    b = load.load_inputs(tmp_path / "f.npy", images=pics)
    assert b.images.shape == (N, 3, load.THUMBNAIL, load.THUMBNAIL) and b.images.dtype == np.uint8
    assert b.images[7, 0].max() == 35  # image 007's red, order by file name


def test_saved_folder_of_several_runs(tmp_path, feats):
    meta = {"true": ["a"] * N, "predicted": ["a"] * (N - 1) + ["b"]}
    folder.save_run(tmp_path / "runs", "one", feats, labels=np.zeros(N), classes=["a"], meta=meta)
    folder.save_run(tmp_path / "runs", "two", feats * 2, labels=np.zeros(N), classes=["a"],
                    meta={**meta, "predicted": ["a"] * N})
    b = load.load_inputs(tmp_path / "runs")
    assert list(b.features) == ["one", "two"] and np.allclose(b.features["two"], 2 * feats)
    assert set(b.meta) == {"true", "one: predicted", "two: predicted"}
    folder.save_run(tmp_path / "pairs", "a", feats, compare=("reports", feats[:, :3]))
    folder.save_run(tmp_path / "pairs", "b", feats, compare=("reports", feats[:, :2]))
    assert list(load.load_inputs(tmp_path / "pairs").features) == ["a", "a: reports", "b", "b: reports"]
    single = load.load_inputs(tmp_path / "runs" / "one")
    assert list(single.meta) == ["true", "predicted"] and single.classes == ["a"]


def test_save_run_replaces_an_existing_run_whole(tmp_path, feats):
    """Re-running the same (configuration, seed) replaces the run folder whole: no file of the earlier
    run is left (its compare, texts, images), and no temporary folder remains beside it."""
    first = folder.save_run(tmp_path, "run", feats, compare=("reports", feats[:, :3]), texts=["t"] * N,
                            images=np.zeros((N, 1, 4, 4), np.float32))
    (first / "stray.txt").write_text("left by hand")
    again = folder.save_run(tmp_path, "run", torch.from_numpy(feats * 3), labels=torch.arange(N) % 2,
                            classes=["a", "b"])
    assert again == first and sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert sorted(p.name for p in again.iterdir()) == ["embeddings.json", "features.npy", "labels.npy"]
    b = load.load_inputs(again)
    assert np.allclose(b.features["features"], feats * 3) and b.texts is None and not b.compare
    assert b.labels.dtype == np.int64 and b.classes == ["a", "b"]
    with pytest.raises(TypeError):  # a write that fails leaves the earlier run as it was, and no temporary folder
        folder.save_run(tmp_path, "run", feats, labels=object())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"] and load.load_inputs(again).classes == ["a", "b"]


def test_saved_thumbnails_follow_the_rule_explore_reads(tmp_path, feats):
    """--save-embeddings keeps test inputs as thumbnails only when explore would accept them (one rule,
    folder.as_images): C in 1, 3, 4, finite, stretched to [0, 1] the same way."""
    from labkit.app import record

    gen = torch.Generator().manual_seed(0)
    assert record._images(torch.randn(N, 5, 8, 8, generator=gen)) is None  # 5 channels: not images
    assert record._images(torch.randn(N, 7, 2, generator=gen)) is not None  # (N, H, W): one channel
    assert record._images(torch.full((N, 1, 4, 4), float("nan"))) is None
    assert record._images(torch.arange(N * 16).reshape(N, 1, 4, 4)) is None  # not floats
    x = torch.randn(N, 3, 6, 6, generator=gen) * 4 + 1  # standardised inputs
    kept = record._images(x)
    assert kept.shape == (N, 3, 6, 6) and kept.min() == 0 and kept.max() == 1
    np.save(tmp_path / "x.npy", x.numpy())
    np.save(tmp_path / "f.npy", feats)
    assert np.array_equal(load.load_inputs(tmp_path / "f.npy", images=tmp_path / "x.npy").images, kept)
    run = folder.save_run(tmp_path / "runs", "r", feats, images=record._images(torch.randn(N, 8, 8, 1)))
    assert load.load_inputs(run).images.shape == (N, 1, 8, 8)


# ----------------------------------------------------------------------------- bad input: exit 2, no server

def _bad_cases(tmp, feats):
    np.save(tmp / "f.npy", feats)
    np.save(tmp / "short.npy", feats[:5])
    bad = feats.copy()
    bad[3, 1] = np.nan
    np.save(tmp / "nan.npy", bad)
    np.save(tmp / "vector.npy", feats[:, 0])
    np.save(tmp / "column.npy", feats[:, :1])
    np.save(tmp / "objects.npy", np.array([{"a": 1}] * N, dtype=object), allow_pickle=True)
    (tmp / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    (tmp / "words.csv").write_text("1,2\n3,oops\n4,5\n")
    (tmp / "f.h5").write_bytes(b"x")
    (tmp / "labels.txt").write_text("\n".join("ab"[i % 2] for i in range(N + 1)))
    (tmp / "meta.csv").write_text("score\n" + "\n".join("1" for _ in range(N - 1)))
    (tmp / "texts.json").write_text(json.dumps(["t"] * 3))
    (tmp / "texts_bad.json").write_text("[1, 2")
    np.save(tmp / "images.npy", np.zeros((N + 2, 1, 4, 4), np.float32))
    f = tmp / "f.npy"
    good = json.loads((folder.save_run(tmp / "saved", "ok", feats) / folder.MANIFEST).read_text())
    manifests = {"truncated": json.dumps(good)[:30], "format": json.dumps({**good, "format": "other"}),
                 "version": json.dumps({**good, "version": "1"}),
                 "names": json.dumps({**good, "features": {"f": 3}}),
                 "labels": json.dumps({**good, "labels": ["labels.npy"]}), "list": "[1, 2]"}
    corrupt = []
    for name, text in manifests.items():
        (tmp / "saved" / name).mkdir()
        (tmp / "saved" / name / folder.MANIFEST).write_text(text)
        corrupt.append(([tmp / "saved" / name], f"{tmp / 'saved' / name / folder.MANIFEST}"))
    return corrupt + [
        ([tmp / "missing.npy"], "does not exist"),
        ([tmp / "f.h5"], "unknown format .h5"),
        ([tmp / "broken.npy"], "not a readable .npy"),
        ([tmp / "objects.npy"], "holds Python objects"),
        ([tmp / "words.csv"], "numbers only"),
        ([tmp / "nan.npy"], "NaN or infinite values in 1 rows (first: row 3)"),
        ([tmp / "vector.npy"], "must be (N, D)"),
        ([f, "--labels", tmp / "labels.txt"], f"has {N + 1} entries but the features"),
        ([f, "--meta", tmp / "meta.csv"], f"has {N - 1} entries"),
        ([f, "--images", tmp / "images.npy"], f"has {N + 2} entries"),
        ([f, "--texts", tmp / "texts.json"], "has 3 entries"),
        ([f, "--texts", tmp / "texts_bad.json"], "not valid JSON"),
        ([f, "--compare", tmp / "short.npy"], "has 5 entries"),
        ([f, "--port", "0"], "--port must be in 1..65535"),
        ([tmp / "column.npy", "--projection", "pca"], "pca needs features with at least 2 dimensions"),
        ([tmp], "holds no embeddings.json"),
    ]


def test_every_bad_input_exits_2_with_one_line_before_the_server(tmp_path, feats, capsys, monkeypatch):
    monkeypatch.setattr(command, "serve", lambda *a: pytest.fail("the server must not start on bad input"))
    monkeypatch.setattr(command, "_project", lambda *a: pytest.fail("nothing is projected on bad input"))
    for argv, message in _bad_cases(tmp_path, feats):
        status, err = _run(argv, capsys)
        assert status == 2, (argv, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("labkit explore: error: ") and message in lines[0], (argv, err)


def test_bad_option_is_argparse_exit_2(capsys):
    status, err = _run(["x.npy", "--projection", "mds"], capsys)
    assert status == 2 and "invalid choice: 'mds'" in err


# ----------------------------------------------------------------------------- serving

def test_port_in_use_moves_to_the_next_free_one(tmp_path, feats, capsys, no_server):
    np.save(tmp_path / "f.npy", feats)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, err = _run([tmp_path / "f.npy", "--projection", "pca", "--port", port, "--no-browser"], capsys)
    assert status == 0 and no_server["port"] > port and no_server["open_browser"] is False
    assert f"port {port} is in use; using port {no_server['port']} instead" in err
    assert f"http://127.0.0.1:{no_server['port']}/" in err


def test_served_page_shows_the_inputs_with_the_cached_projection(tmp_path, feats, capsys, no_server, monkeypatch):
    from labkit import embed

    np.save(tmp_path / "f.npy", feats)
    np.save(tmp_path / "g.npy", feats[:, ::-1].copy())
    (tmp_path / "texts.txt").write_text("\n".join(f"note {i}" for i in range(N)))
    status, _ = _run([tmp_path / "f.npy", "--compare", tmp_path / "g.npy", "--texts", tmp_path / "texts.txt",
                      "--projection", "pca", "--port", command.free_port_from(20000)], capsys)
    assert status == 0
    explorer = no_server["page"].explorer
    assert len(explorer.views) == 2 and explorer.texts[2] == "note 2"
    assert explorer.views[0]._esm == page.MAP_SHIM  # the app's maps import the served bundle by URL
    assert embed.cache_path(feats, "pca", seed=0).is_file()  # computed by the command, read by the page
    assert page.sync_figures(no_server["page"]) == 3  # two maps and the selection bars
    assert len(explorer.views[0]._widget_data[0]["x"]) == N  # the page's first state holds the points
    assert not no_server["notebook"].exists()  # the temporary folder is removed when the server stops
    explorer._typed_example("4")
    assert explorer.focus == 4 and "nearest in" in explorer.neighbours.value
    explorer._typed_example("x4")
    assert "not an example index" in explorer.detail.value


# ----------------------------------------------------------------------------- --save-embeddings round trip

@pytest.mark.slow
def test_save_embeddings_round_trip_from_a_cll_run(tmp_path, capsys):
    from labkit.data import load_dataset

    out = tmp_path / "emb"
    assert cli.main(["cll", "--dataset", "digits", "--method", "scl-nl", "--epochs", "1", "--seeds", "0", "1",
                     "--quiet", "--save-embeddings", str(out)]) == 0
    runs = folder.find_runs(out)
    assert len(runs) == 2 and all(r.name.startswith("cll-digits-scl-nl-seed") for r in runs)
    manifest = folder.read_manifest(runs[0])
    assert manifest["run"]["method"] == "scl-nl" and "test_accuracy" in manifest["run"]
    one = load.load_inputs(runs[0])
    test = load_dataset("digits", "test")
    assert one.n == len(test) and one.labels.tolist() == test.y.tolist() and one.classes == test.classes
    assert set(one.meta) == {"true", "predicted", "correct"} and one.images.dtype == np.uint8
    assert one.images.shape == (len(test), 1, 8, 8)
    both = load.load_inputs(out)  # the folder of runs: one embedding per run
    assert list(both.features) == [r.name for r in runs]
    explorer = page.build(runs[0], "pca", "digits").explorer
    assert len(explorer.click(3)) == explorer.controls["k"].value and "<img" in explorer.detail.value


def test_save_embeddings_folder_is_checked_first(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert cli.main(["cll", "--epochs", "1", "--seeds", "0", "--quiet", "--save-embeddings",
                     str(tmp_path / "file")]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err


def test_map_figures_follow_their_box():
    """The explorer's maps run plotly's widget wrapped by FIT_JS (a ResizeObserver calling plotly's
    responsive handler); the app imports the same bundle once by URL and wraps it the same way."""
    from labkit.figure_fit import FIT_JS, _fitting_esm, map_figure

    import plotly.graph_objects as go

    esm = _fitting_esm()
    assert esm is not None and FIT_JS in esm and "\nexport default () => labkitFit(" in esm
    fig = map_figure()
    assert fig._config["responsive"] and not fig._config["displaylogo"]
    assert fig._esm == esm and "voila/files" not in fig._esm  # the whole bundle, wrapped; not the app's shim
    assert "_esm" not in go.FigureWidget.__dict__ and go.FigureWidget()._esm != page.PLOTLY_SHIM  # plotly's own
    assert FIT_JS in page.MAP_SHIM and command.PLOTLY_BUNDLE in page.MAP_SHIM and "labkitFit" not in page.PLOTLY_SHIM


def test_page_stops_waiting_when_the_projection_process_is_gone(tmp_path, monkeypatch):
    """A projection child that dies without leaving READY or FAILED (killed, out of memory) ends the
    page's wait with a clear error instead of a loop forever; markers are written whole."""
    import multiprocessing
    import os

    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) > 200:
            pytest.fail("the page waits forever")

    monkeypatch.setattr(command.time, "sleep", sleep)
    child = multiprocessing.get_context("fork").Process(target=os._exit, args=(1,))
    child.start()
    while command._alive(child.pid):  # ended but not reaped by us: a zombie is not alive
        pass
    command._write_marker(tmp_path / command.PENDING, str(child.pid))
    with pytest.raises(RuntimeError, match=f"pid {child.pid}\\) ended without a result"):
        command.wait_for_projection(tmp_path)
    child.join()
    command._write_marker(tmp_path / command.PENDING, str(os.getpid()))  # alive: waits until a marker appears
    command._write_marker(tmp_path / command.FAILED, "ValueError: boom")
    with pytest.raises(RuntimeError, match="the projection failed: ValueError: boom"):
        command.wait_for_projection(tmp_path)
    command._write_marker(tmp_path / command.READY, "0.5")
    command.wait_for_projection(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([command.PENDING, command.FAILED, command.READY])
