"""The synthetic paired lumbar set and the folder loader."""
import re

import numpy as np
import pytest
import torch

from labkit.data import load_paired_folder, make_lumbar
from labkit.data.lumbar import LUMBAR_CLASSES, lumbar_prompts


@pytest.fixture(scope="module")
def pairs():
    return make_lumbar(600, image_size=32, seed=0)


def test_deterministic_under_seed(pairs):
    again = make_lumbar(600, image_size=32, seed=0)
    assert torch.equal(pairs.images, again.images) and pairs.reports == again.reports
    other = make_lumbar(600, image_size=32, seed=1)
    assert not torch.equal(pairs.images, other.images)


def test_shapes_and_container(pairs):
    assert pairs.images.shape == (600, 1, 32, 32) and pairs.images is pairs.x
    assert 0.0 <= float(pairs.images.min()) and float(pairs.images.max()) <= 1.0
    assert pairs.classes == list(LUMBAR_CLASSES) and pairs.labels.dtype == torch.long
    sub = pairs.subset([5, 2, 9])
    assert sub.reports == [pairs.reports[i] for i in (5, 2, 9)]
    assert sub.findings[1] == pairs.findings[2] and torch.equal(sub.images[0], pairs.images[5])
    train, held = pairs.split(0.25, seed=0)
    assert len(train.reports) == len(train) and len(held.findings) == len(held)
    assert all(f["class"] == pairs.classes[int(c)] for f, c in zip(pairs.findings, pairs.labels))


def test_class_weights_are_honoured():
    only = make_lumbar(50, image_size=16, seed=0, class_weights=[0, 1, 0, 0, 0, 0])
    assert (only.labels == 1).all()
    w = np.array([1.0, 2.0, 3.0, 1.0, 1.0, 2.0])
    d = make_lumbar(3000, image_size=16, seed=2, class_weights=w)
    p = w / w.sum()
    freq = d.class_counts().numpy() / 3000
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / 3000))  # within 5 binomial std


_FINDING = {
    "normal": r"no disc bulge or protrusion|normal disc contour|disc is unremarkable|no disc herniation",
    "disc bulge": r"disc bulge",
    "central protrusion": r"central (disc )?(protrusion|herniation)",
    "left subarticular protrusion": r"left (subarticular|paracentral)",
    "right subarticular protrusion": r"right (subarticular|paracentral)",
    "central canal stenosis": r"(mild|moderate|severe) (central canal stenosis|narrowing of the central canal|spinal canal stenosis)",
}


def test_each_report_names_its_finding_side_and_level(pairs):
    for report, y, f in zip(pairs.reports, pairs.labels.tolist(), pairs.findings):
        cls, text = LUMBAR_CLASSES[y], report.lower()
        assert re.search(_FINDING[cls], text), (cls, report)
        assert text.startswith(f["level"].lower())
        if cls.startswith(("left", "right")):
            other = "right" if cls.startswith("left") else "left"
            assert not re.search(f"{other} (subarticular|paracentral)", text), report
        if cls != "central canal stenosis":
            assert not re.search(_FINDING["central canal stenosis"], text), report
        else:
            assert f["stenosis"] in text


def test_left_protrusion_is_on_the_image_right():
    """Radiological convention: the patient's left is the image's right. A protrusion pushes dark
    disc into the bright sac on its side, so that half of the canal is darker."""
    d = make_lumbar(1000, image_size=48, seed=3)
    mean = lambda c: d.images[d.labels == LUMBAR_CLASSES.index(c), 0].mean(0)  # noqa: E731
    diff = mean("left subarticular protrusion") - mean("right subarticular protrusion")
    canal = diff[22:32, 13:35]  # rows around the thecal sac, columns either side of the midline (24)
    left_half, right_half = canal[:, :11].mean(), canal[:, 11:].mean()
    assert right_half < 0 < left_half


def test_template_phrasing_repeats_more():
    varied = make_lumbar(400, image_size=16, seed=0)
    template = make_lumbar(400, image_size=16, seed=0, phrasing="template")
    assert len(set(template.reports)) < len(set(varied.reports)) / 3
    assert len(set(template.reports)) <= 3 * (len(LUMBAR_CLASSES) + 2)  # level x finding (x grade)


def test_prompts_cover_every_class():
    prompts = lumbar_prompts()
    assert list(prompts) == list(LUMBAR_CLASSES) and all(len(p) >= 3 for p in prompts.values())


@pytest.mark.parametrize("kw, match", [({"n": 0}, "positive integer"), ({"image_size": 8}, "image_size"),
                                       ({"class_weights": [1, 2]}, "class_weights"),
                                       ({"class_weights": [-1, 1, 1, 1, 1, 1]}, "class_weights"),
                                       ({"phrasing": "poetic"}, "phrasing")])
def test_bad_arguments(kw, match):
    args = {"n": 10, **kw}
    with pytest.raises(ValueError, match=match):
        make_lumbar(args.pop("n"), **args)


def _write_folder(tmp_path, rows):
    from PIL import Image

    Image.fromarray(np.full((20, 30), 128, np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "b.jpg")
    np.save(tmp_path / "c.npy", np.arange(100, dtype=np.float32).reshape(10, 10))
    (tmp_path / "reports.csv").write_text("image,report,label\n" + "\n".join(rows) + "\n")


def test_load_paired_folder(tmp_path):
    _write_folder(tmp_path, ["a.png,L4-L5: Diffuse disc bulge.,bulge", "b.jpg,L5-S1: Normal disc contour.,normal",
                             'c.npy,"L3-L4: Central protrusion, mild stenosis.",bulge'])
    d = load_paired_folder(tmp_path, image_size=24)
    assert d.images.shape == (3, 1, 24, 24) and d.classes == ["bulge", "normal"]
    assert d.labels.tolist() == [0, 1, 0] and d.reports[2].startswith("L3-L4: Central protrusion,")
    assert float(d.images[0].mean()) == pytest.approx(128 / 255, abs=1e-3)
    assert float(d.images[2].min()) == 0.0 and float(d.images[2].max()) == pytest.approx(1.0, abs=1e-3)


def test_load_paired_folder_errors(tmp_path):
    _write_folder(tmp_path, ["a.png,some report,x", "missing.png,another,x"])
    with pytest.raises(ValueError, match="missing.png does not exist"):
        load_paired_folder(tmp_path)
    _write_folder(tmp_path, ["a.png,some report,x", "b.jpg,  ,x"])
    with pytest.raises(ValueError, match="line 3: the report is empty"):
        load_paired_folder(tmp_path)
    with pytest.raises(ValueError, match="no reports.csv"):
        load_paired_folder(tmp_path / "nowhere")
