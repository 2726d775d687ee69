"""Paired axial lumbar-spine MRI slices and radiology reports: a synthetic stand-in and a folder loader.

LumbarCLIP (Le et al., arXiv 2509.20813) aligns axial lumbar MRI with expert reports; its data are
not public and real MRI cannot ship with labkit. :func:`make_lumbar` draws hidden *findings* per
example (class, level, grades, side) and renders both the slice and the report from them, so an
image and its report share exactly the information a real pair would share.
:func:`load_paired_folder` reads your own pairs. Taught in notebooks/05_clip_embedding_alignment.ipynb.

Orientation convention (radiological, as on a scanner console): the slice is viewed from the
patient's feet, anterior at the top, so the patient's LEFT is on the image's RIGHT (column index
increases toward the patient's left). A "left subarticular protrusion" bulges toward the image's
right side of the canal, and "left foraminal narrowing" shrinks the foramen on the image's right.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .._validation import integer, one_of, positive_int, weights
from ._pairs import read_image as _read_image, read_labels as _labels, read_table as _read_table
from ..device import make_generator
from .datasets import Dataset

__all__ = ["LumbarPairs", "make_lumbar", "load_paired_folder", "lumbar_prompts", "LUMBAR_CLASSES",
           "LEVELS", "GRADES"]

LUMBAR_CLASSES = ("normal", "disc bulge", "central protrusion", "left subarticular protrusion",
                  "right subarticular protrusion", "central canal stenosis")
LEVELS = ("L3-L4", "L4-L5", "L5-S1")
GRADES = ("none", "mild", "moderate", "severe")
_NERVE_ROOT = {"L3-L4": "L4", "L4-L5": "L5", "L5-S1": "S1"}  # the traversing root at each level
# Clinical-looking imbalance: most studies are normal or show a bulge.
DEFAULT_CLASS_WEIGHTS = (0.30, 0.25, 0.12, 0.10, 0.10, 0.13)
PHRASINGS = ("varied", "template")


class LumbarPairs(Dataset):
    """Images ``x`` (N×1×H×W in [0, 1]) with labels ``y`` and, per example, a ``report`` and its
    ``findings`` (a dict). ``.images`` is ``.x`` and ``.labels`` is ``.y``; :meth:`subset`,
    :meth:`split` and :meth:`to` carry the reports and findings along."""

    per_example = ("reports", "findings")

    def __init__(self, x, y, reports: Sequence[str], findings: Sequence[dict] | None = None,
                 classes: Sequence[str] | None = None, name: str | None = None):
        super().__init__(x, y, classes=classes, name=name or "lumbar")
        reports = [str(r) for r in reports]
        if len(reports) != len(self):
            raise ValueError(f"got {len(reports)} reports for {len(self)} images; need one report per image")
        empty = [i for i, r in enumerate(reports) if not r.strip()]
        if empty:
            raise ValueError(f"reports must not be empty; examples {empty[:5]} have an empty report")
        self.reports = reports
        self.findings = list(findings) if findings is not None else [{} for _ in reports]

    @property
    def images(self) -> torch.Tensor:
        return self.x

    @property
    def labels(self) -> torch.Tensor:
        return self.y

    def report_groups(self) -> torch.Tensor:
        """An id per example, equal for identical report texts (co-positives in retrieval)."""
        ids: dict[str, int] = {}
        return torch.tensor([ids.setdefault(r, len(ids)) for r in self.reports], dtype=torch.long)

    def __repr__(self) -> str:
        distinct = len(set(self.reports))
        return (f"LumbarPairs({self.name!r}, n={len(self)}, x={tuple(self.x.shape[1:])}, "
                f"classes={self.num_classes}, distinct reports={distinct})")


# ------------------------------------------------------------------------------ the findings

def _check_args(n, image_size, class_weights, phrasing):
    positive_int(n, "n", note="a positive integer")
    integer(image_size, "image_size", low=16, note="the anatomy needs the pixels")
    one_of(phrasing, "phrasing", PHRASINGS)
    w = weights(DEFAULT_CLASS_WEIGHTS if class_weights is None else class_weights, "class_weights",
                len(LUMBAR_CLASSES), note=f"one per class {LUMBAR_CLASSES}")
    return w / w.sum()


def _draw_findings(n: int, weights: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
    """The hidden variables, as tensors: class, level, and the graded secondary findings."""
    y = torch.multinomial(weights, n, replacement=True, generator=g)
    u = lambda: torch.rand(n, generator=g)  # noqa: E731
    level = torch.randint(0, 3, (n,), generator=g)
    is_ = lambda name: y == LUMBAR_CLASSES.index(name)  # noqa: E731
    stenosis = torch.where(is_("central canal stenosis"), torch.randint(1, 4, (n,), generator=g), 0)
    # side of a subarticular protrusion: +1 = patient's left (image right), -1 = right, 0 = central
    side = is_("left subarticular protrusion").long() - is_("right subarticular protrusion").long()
    protrusion = is_("central protrusion") | (side != 0)
    bulge = is_("disc bulge") | (stenosis > 0)
    # foraminal narrowing (per side) and facet arthropathy come mostly with bulges and stenosis
    p_foramen = torch.where(bulge, 0.35, 0.05)
    foramen = [torch.where(u() < p_foramen, torch.randint(1, 3, (n,), generator=g), 0) for _ in range(2)]
    facet = u() < torch.where(stenosis > 0, 0.8, torch.where(bulge, 0.3, 0.05))
    flavum = u() < torch.where(stenosis > 0, 0.7, 0.03)
    root_contact = (side != 0) & (u() < 0.6)
    return dict(y=y, level=level, stenosis=stenosis, side=side, protrusion=protrusion, bulge=bulge,
                foramen_right=foramen[0], foramen_left=foramen[1], facet=facet, flavum=flavum,
                root_contact=root_contact)


# ------------------------------------------------------------------------------ the image

def _ellipse(u, v, cu, cv, ru, rv, edge):
    """Soft mask of an ellipse (centre cu, cv; radii ru, rv): 1 inside, 0 outside, a linear ramp
    about ``edge`` wide across the boundary (from 1 - d² ≈ 2(1 - d) near d = 1); broadcasts over N."""
    a, b = (u - cu).div_(ru), (v - cv).div_(rv)
    q = a.mul_(a).addcmul_(b, b)
    return q.neg_().add_(1).div_(4 * edge / (ru + rv)).add_(0.5).clamp_(0, 1)


def _col(t):
    return t.float()[:, None, None]


_FOV = 0.68  # half-width of the field of view in anatomy units (the body is about 1 wide)


def _render(f: dict[str, torch.Tensor], size: int, g: torch.Generator) -> torch.Tensor:
    """Draw N axial T2-like slices from the findings (painter's order, soft edges), vectorised."""
    n = len(f["y"])
    r = lambda lo, hi: _col(lo + (hi - lo) * torch.rand(n, generator=g))  # noqa: E731
    # scanner and patient variation: rotation, scale, shift, bias field, contrast, noise
    angle, scale = r(-0.17, 0.17), r(0.9, 1.1)
    shift_u, shift_v = r(-0.05, 0.05), r(-0.05, 0.05)
    lin = torch.linspace(-_FOV, _FOV, size) + 0.05  # zoomed on the spinal canal, as axial crops are
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    xx, yy = xx[None], yy[None]
    cos, sin = torch.cos(angle), torch.sin(angle)
    u = (cos * (xx - shift_u) + sin * (yy - shift_v)) / scale   # u: toward the patient's left
    v = (-sin * (xx - shift_u) + cos * (yy - shift_v)) / scale  # v: toward posterior
    edge = 2.0 * _FOV / size  # about one pixel of blur on every boundary
    img = torch.zeros(n, size, size)

    def paint(mask, value):
        img.lerp_(torch.full_like(img[:1], value).expand_as(img), mask)  # img += mask * (value - img)

    paint(_ellipse(u, v, 0.0, 0.08, 0.95, 0.82, edge), 0.55)              # subcutaneous fat
    paint(_ellipse(u, v, 0.0, 0.08, 0.86, 0.73, edge), 0.24)              # muscle envelope
    for s in (-1, 1):
        paint(_ellipse(u, v, 0.56 * s, -0.22, 0.17, 0.22, edge), 0.30)    # psoas
        paint(_ellipse(u, v, 0.26 * s, 0.60, 0.24, 0.18, edge), 0.32)     # paraspinal muscles
    # iliac wings: absent at L3-L4, tips at L4-L5, large at L5-S1 (the level shows in the slice)
    ilium = _col(torch.tensor([0.0, 0.6, 1.0])[f["level"]]) + 1e-3
    for s in (-1, 1):
        paint(_ellipse(u, v, 0.66 * s, 0.30, 0.12 * ilium, 0.30 * ilium, edge), 0.45)
    paint(_ellipse(u, v, 0.0, 0.30, 0.40, 0.32, edge), 0.40)              # posterior elements (marrow)
    paint(_ellipse(u, v, 0.0, 0.64, 0.06, 0.20, edge), 0.40)              # spinous process
    facet_size = 1 + 0.45 * _col(f["facet"])
    for s, foramen in ((1, f["foramen_left"]), (-1, f["foramen_right"])):
        paint(_ellipse(u, v, 0.30 * s, 0.33, 0.09 * facet_size, 0.075 * facet_size, edge), 0.18)  # facet
        open_ = 1 - 0.3 * _col(foramen)                                        # foraminal narrowing
        paint(_ellipse(u, v, 0.38 * s, 0.08, 0.07 * open_, 0.09 * open_, edge), 0.78)  # foraminal fat
        paint(_ellipse(u, v, 0.38 * s, 0.08, 0.025, 0.025, edge), 0.25)          # exiting nerve root
    # thecal sac: bright CSF; stenosis narrows it (more front-to-back than side to side)
    grade = _col(f["stenosis"])
    paint(_ellipse(u, v, 0.0, 0.21, 0.21 * (1 - 0.12 * grade), 0.14 * (1 - 0.2 * grade), edge), 0.95)
    flavum = 0.025 + 0.035 * _col(f["flavum"]) + 0.01 * grade
    for s in (-1, 1):
        paint(_ellipse(u, v, 0.12 * s, 0.34, 0.10, flavum, edge), 0.10)     # ligamentum flavum
    paint(_disc(u, v, f, n, g, edge), 0.14)                                # annulus (T2 dark)
    paint(_ellipse(u, v, 0.0, -0.25, 0.25, 0.13, edge * 3), 0.58)           # nucleus (T2 bright)
    # bias field, contrast (gamma) and Rician noise
    bias = 1 + r(-0.2, 0.2) * xx + r(-0.2, 0.2) * yy + r(-0.15, 0.15) * (xx ** 2 + yy ** 2)
    img = (img * bias).clamp(0, 1) ** r(0.8, 1.25)
    sigma = r(0.02, 0.06)
    n1, n2 = torch.randn(img.shape, generator=g), torch.randn(img.shape, generator=g)
    img = torch.sqrt((img + sigma * n1) ** 2 + (sigma * n2) ** 2)
    return img.clamp(0, 1)[:, None]


def _disc(u, v, f, n, g, edge):
    """Disc mask from a polar outline: an ellipse with a slightly concave back, widened all round by
    a bulge, with a focal Gaussian bump (central or paracentral) for a protrusion."""
    cu, cv = 0.0, -0.24
    width = _col(torch.tensor([1.0, 1.04, 1.1])[f["level"]])    # lower discs are wider
    du, dv = u - cu, v - cv
    dist = torch.sqrt(du ** 2 + dv ** 2) + 1e-9
    theta = torch.atan2(du, dv)        # 0 = straight posterior, > 0 toward the patient's left
    ru, rv = 0.44 * width, 0.26
    base = 1 / torch.sqrt((torch.sin(theta) / ru) ** 2 + (torch.cos(theta) / rv) ** 2)
    base = base - 0.05 * torch.exp(-theta ** 2 / (2 * 0.35 ** 2))  # kidney-shaped posterior margin
    bulge = _col(f["bulge"]) * (0.09 + 0.05 * torch.rand(n, generator=g))[:, None, None]
    amp = _col(f["protrusion"]) * (0.13 + 0.07 * torch.rand(n, generator=g))[:, None, None]
    centre = 0.55 * _col(f["side"])
    wrapped = torch.remainder(theta - centre + math.pi, 2 * math.pi) - math.pi
    outline = base * (1 + bulge) + amp * torch.exp(-wrapped ** 2 / (2 * 0.22 ** 2))
    return ((outline - dist) / edge).add_(0.5).clamp_(0, 1)


# ------------------------------------------------------------------------------ the report

_DISC = {
    "normal": ["No disc bulge or protrusion.", "Normal disc contour.", "The disc is unremarkable.",
               "No disc herniation."],
    "bulge": ["Diffuse disc bulge.", "Broad-based disc bulge over more than 90 degrees of the circumference.",
              "Circumferential disc bulge.", "Mild diffuse disc bulge."],
    "central": ["Central disc protrusion.", "Focal central protrusion indenting the thecal sac.",
                "Small central disc protrusion.", "Central disc herniation (protrusion)."],
    "sub": ["{side} subarticular disc protrusion.", "{side} paracentral disc protrusion.",
            "Focal {side_l} subarticular protrusion narrowing the {side_l} lateral recess.",
            "{side} subarticular (paracentral) protrusion."],
}
_CANAL = {0: ["No central canal stenosis.", "The central canal is patent.", "No spinal canal stenosis."],
          1: ["{g} central canal stenosis.", "{g} narrowing of the central canal.",
              "{g} spinal canal stenosis."]}
_EXTRA_FORAMEN = ["{g} {side_l} neural foraminal narrowing.", "{side} neural foramen: {g_l} narrowing."]
_EXTRA_FACET = ["Facet arthropathy.", "Bilateral facet arthropathy."]
_EXTRA_FLAVUM = ["Ligamentum flavum hypertrophy.", "Hypertrophy of the ligamenta flava."]
_EXTRA_ROOT = ["Contact with the traversing {side_l} {root} nerve root.",
               "The traversing {side_l} {root} nerve root is contacted."]


def _findings_dict(f: dict[str, list], i: int) -> dict:
    """Example ``i``'s findings in words; ``f`` holds the findings as Python lists."""
    side = {1: "left", -1: "right", 0: "central"}[f["side"][i]]
    disc = "protrusion" if f["protrusion"][i] else "bulge" if f["bulge"][i] else "normal"
    return {"class": LUMBAR_CLASSES[f["y"][i]], "level": LEVELS[f["level"][i]], "disc": disc,
            "location": (f"{side} subarticular" if side != "central" else "central") if disc == "protrusion" else None,
            "stenosis": GRADES[f["stenosis"][i]],
            "foraminal_left": GRADES[f["foramen_left"][i]],
            "foraminal_right": GRADES[f["foramen_right"][i]],
            "facet_arthropathy": f["facet"][i], "flavum_hypertrophy": f["flavum"][i],
            "nerve_root_contact": side if f["root_contact"][i] else None}


def _report(d: dict, pick) -> str:
    """One report from one example's findings; ``pick(options)`` chooses a phrasing."""
    level = d["level"]
    if d["disc"] == "protrusion" and d["location"] != "central":
        side_l = d["location"].split()[0]
        disc = pick(_DISC["sub"]).format(side=side_l.capitalize(), side_l=side_l)
    else:
        disc = pick(_DISC["central" if d["disc"] == "protrusion" else d["disc"]])
    parts = [f"{level}: {disc}"]
    g = GRADES.index(d["stenosis"])
    canal = pick(_CANAL[min(g, 1)]).format(g=d["stenosis"].capitalize())
    parts.append(canal)
    if d["nerve_root_contact"]:
        parts.append(pick(_EXTRA_ROOT).format(side_l=d["nerve_root_contact"], root=_NERVE_ROOT[level]))
    for side_l in ("left", "right"):
        grade = d[f"foraminal_{side_l}"]
        if grade != "none":
            parts.append(pick(_EXTRA_FORAMEN).format(g=grade.capitalize(), g_l=grade, side=side_l.capitalize(),
                                                     side_l=side_l))
    if d["facet_arthropathy"]:
        parts.append(pick(_EXTRA_FACET))
    if d["flavum_hypertrophy"]:
        parts.append(pick(_EXTRA_FLAVUM))
    return " ".join(parts)


def _template_findings(d: dict) -> dict:
    """Templated reports state only the class finding and grade: many exact repeats."""
    keep = dict(d, foraminal_left="none", foraminal_right="none", facet_arthropathy=False,
                flavum_hypertrophy=False, nerve_root_contact=None)
    return keep


def make_lumbar(n: int = 2000, *, image_size: int = 64, seed: int | None = None, class_weights=None,
                phrasing: str = "varied") -> LumbarPairs:
    """A synthetic paired set of axial lumbar T2-like slices and reports drawn from shared findings.

    Per example: a class from ``LUMBAR_CLASSES`` (``class_weights``, default imbalanced
    ``DEFAULT_CLASS_WEIGHTS``), a level (L3-L4, L4-L5, L5-S1), a stenosis grade (stenosis class),
    a protrusion side, and secondary findings (foraminal narrowing per side, facet arthropathy,
    ligamentum flavum hypertrophy, nerve root contact). The slice shows the disc (annulus and
    nucleus), thecal sac (bright CSF), posterior elements, facets, foramina, muscles and, by level,
    the iliac wings (none at L3-L4, small at L4-L5, large at L5-S1) and disc width; a bulge
    widens the disc all round, a protrusion adds a focal posterior bump (central or toward one side),
    stenosis narrows the sac, foraminal narrowing shrinks that side's foramen; then scanner
    variation (rotation ±10°, scale ±10%, shift, bias field, gamma, Rician noise).
    Reports use the vocabulary of docs/reference.md §5.5. ``phrasing="varied"``: several phrasings per finding
    and the secondary findings; ``"template"``: one fixed sentence per finding (many exact repeats,
    as in templated clinical reports). Left/right follow the radiological convention (module doc).
    Deterministic under ``seed``.
    """
    weights = _check_args(n, image_size, class_weights, phrasing)
    g = make_generator(seed)
    f = _draw_findings(n, weights.float(), g)
    images = _render(f, image_size, g)
    choices = torch.randint(0, 2 ** 31 - 1, (n,), generator=g).tolist()
    lists = {k: v.tolist() for k, v in f.items()}
    findings, reports = [], []
    for i in range(n):
        d = _findings_dict(lists, i)
        findings.append(d)
        if phrasing == "template":
            reports.append(_report(_template_findings(d), lambda options: options[0]))
        else:
            rng = np.random.default_rng(choices[i])
            reports.append(_report(d, lambda options: options[int(rng.integers(len(options)))]))
    return LumbarPairs(images, f["y"], reports, findings, classes=LUMBAR_CLASSES, name="lumbar")


def lumbar_prompts() -> dict[str, list[str]]:
    """Zero-shot prompt ensembles: for each class, several phrasings at each level."""
    prompts: dict[str, list[str]] = {}
    for c in LUMBAR_CLASSES:
        texts = []
        for level in LEVELS:
            if c == "normal":
                texts += [f"{level}: Normal disc contour. No central canal stenosis.",
                          f"{level}: No disc bulge or protrusion. The central canal is patent."]
            elif c == "disc bulge":
                texts += [f"{level}: Diffuse disc bulge. No central canal stenosis.",
                          f"{level}: Circumferential disc bulge."]
            elif c == "central protrusion":
                texts += [f"{level}: Central disc protrusion. No central canal stenosis.",
                          f"{level}: Focal central protrusion indenting the thecal sac."]
            elif c.endswith("subarticular protrusion"):
                side = c.split()[0]
                texts += [f"{level}: {side.capitalize()} subarticular disc protrusion.",
                          f"{level}: {side.capitalize()} paracentral disc protrusion."]
            else:
                texts += [f"{level}: Diffuse disc bulge. {g.capitalize()} central canal stenosis."
                          for g in GRADES[1:]]
        prompts[c] = texts
    return prompts


# ------------------------------------------------------------------------------ your own data

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy")


def load_paired_folder(path, *, csv_name: str = "reports.csv", image_size: int | None = 64,
                       classes: Sequence[str] | None = None) -> LumbarPairs:
    """Your own image-report pairs: a folder with a CSV (columns ``image``, ``report`` and optional
    ``label``) beside the images (PNG, JPEG or ``.npy``; paths relative to the folder).

    Images become grayscale 1×H×W in [0, 1], resized to ``image_size`` (None keeps the size; then
    all must match). Labels may be class names or integers 0..K-1; without a label column every
    example gets class 0 ("unlabelled"). The CSV must be UTF-8 with a header line. Missing files,
    empty reports or labels and a bad CSV raise ValueError naming the line, before any image is
    read; an unreadable image (a broken PNG, NaN pixels in a ``.npy``) raises ValueError naming its line.
    """
    if image_size is not None:
        image_size = integer(image_size, "image_size", low=1, note="or None to keep the size")
    if not isinstance(csv_name, str) or not csv_name:
        raise ValueError(f"csv_name must be a file name, got {csv_name!r}")
    folder = Path(path)
    if folder.is_file():
        raise ValueError(f"{folder} is a file: pass the folder that holds {csv_name} and the images")
    table = folder / csv_name
    if not table.is_file():
        raise ValueError(f"no {csv_name} in {folder}: expected a CSV with columns image, report[, label]")
    rows = _read_table(table)
    for i, row in enumerate(rows, start=2):  # line 1 is the header
        if not (row.get("report") or "").strip():
            raise ValueError(f"{table}, line {i}: the report is empty")
        p = folder / (row.get("image") or "").strip()
        if not (row.get("image") or "").strip() or not p.is_file():
            raise ValueError(f"{table}, line {i}: image file {p} does not exist")
        if p.suffix.lower() not in _IMAGE_SUFFIXES:
            raise ValueError(f"{table}, line {i}: {p.name} is not one of {_IMAGE_SUFFIXES}")
    labels, class_names = _labels(rows, classes, table)
    images = []
    for i, row in enumerate(rows, start=2):
        try:
            images.append(_read_image(folder / row["image"].strip(), image_size))
        except ValueError as exc:
            raise ValueError(f"{table}, line {i}: {exc}") from None
    shapes = {a.shape for a in images}
    if len(shapes) > 1:
        raise ValueError(f"images have different sizes {sorted(shapes)}; pass image_size to resize them")
    x = torch.from_numpy(np.stack(images))[:, None]
    return LumbarPairs(x, labels, [r["report"].strip() for r in rows], [dict(r) for r in rows],
                       classes=class_names, name=folder.name)
