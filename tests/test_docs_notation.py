"""One meaning per symbol across the kit (issue 15).

The glossary's symbols table lists every symbol once, and the maths reference and the notebooks'
markdown do not use the meanings the kit retired: λ as the `noisy` family's noise level (η), ρ as
the imbalance ratio (IR), τ as Remix's threshold (θ), s as the logit scale (1/τ), m as the number of
complementary labels, p as s_ȳ or the MLP head's hidden vector, and the soft CLIP loss's T, I, L, Y.

Each check is a function of the text, so it can be run on an older version of a file, e.g.
``check_reference(subprocess.check_output(["git", "show", "HEAD~3:docs/reference.md"], text=True))``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"
REFERENCE = ROOT / "docs" / "reference.md"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))

_MATH = re.compile(r"\$([^$]+)\$")


def glossary_symbols(text: str) -> list[str]:
    """Every symbol of the tables under '## Symbols' (all of them, sub-sections included), in order.

    The symbol column is the one headed 'symbol' (or 'letter'); a cell may hold several symbols,
    each in its own $...$; words beside them ('(partner)') are not part of the symbol."""
    start = text.index("## Symbols")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end >= 0 else None]
    symbols, column = [], None
    for line in section.splitlines():
        if not line.startswith("|"):
            column = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if column is None:  # a header row
            names = [c.lower() for c in cells]
            column = next((i for i, n in enumerate(names) if n in ("symbol", "letter")), -1)
            continue
        if column < 0 or set(cells[0]) <= set("-: "):
            continue
        symbols += ["".join(m.split()) for m in _MATH.findall(cells[column])]
    return symbols


def check_glossary(text: str) -> list[str]:
    """Problems: a symbol listed twice, or no symbols table at all."""
    symbols = glossary_symbols(text)
    if len(symbols) < 20:
        return [f"the symbols table lists only {len(symbols)} symbols"]
    seen, problems = set(), []
    for s in symbols:
        if s in seen:
            problems.append(f"symbol ${s}$ is listed twice")
        seen.add(s)
    return problems


def _numbered_lines(text: str):
    """(section number such as '4.3', line) for every line of the reference."""
    section = ""
    for line in text.splitlines():
        m = re.match(r"#{2,3} (\d+(?:\.\d+)?)\.? ", line)
        if m:
            section = m.group(1)
        yield section, line


# Retired notation, as it was written before issue 15 (each with what replaced it).
_RETIRED_EVERYWHERE = [
    (r"s\s*=\s*e\^t", "the logit scale is 1/τ (learned through its logarithm), not s = e^t"),
    (r"T\s*I\^\\top|I\s*I\^\\top|T\s*T\^\\top", "the soft CLIP loss is written with X̂, Ŷ, P and 𝒯"),
    (r"\\sqrt\s*s\b", "the embeddings are multiplied by sqrt(1/τ)"),
    (r"\$s\s*(=|\\le|\\approx)\s*\d", "a logit scale is 1/τ, s is the softmax probabilities"),
    (r"\\phi\(p\)", "p is pair purity only"),
    (r"Q_\\theta", "θ is Remix's threshold; cpe-t's matrix is Q_Θ"),
    (r"\br_k\b|r'_j", "partial risks are R_k (r is MAMix's exponent)"),
    (r"`num_cl` \$= m|\$m \\ge 1\$", "the number of CLs has no letter: num_cl, |Ȳ|"),
    (r"\\sigma\(u\)", "u is OP's softmax(−f); σ(ξ)"),
    (r"Recall@K\b", "K is the number of classes"),
    (r"g\(h\) = Wh \+ b\b", "b is SigLIP's bias"),
    (r"\bp = W_1 h", "p is pair purity; the MLP head's hidden vector is h'"),
    (r"u \\sim U\(0, 1\)|u\\,\(x_\{nn\}", "SMOTE's draw is δ"),
    (r"\\hat y = \\arg", "ŷ is a text embedding"),
    (r"\bw_c\b", "w is the label weight; class-balanced weights are ω_c"),
]


def check_reference(text: str) -> list[str]:
    """Problems: retired meanings of λ, ρ, τ, s, m, p, T/I/L/Y, r, u, b, k in the reference."""
    problems = []
    for section, line in _numbered_lines(text):
        where = f"§{section or '0'}: {line.strip()[:90]}"
        for pattern, why in _RETIRED_EVERYWHERE:
            if re.search(pattern, line):
                problems.append(f"{where} — {why}")
        if line.startswith("| `noisy`") and "\\lambda" in line:
            problems.append(f"{where} — the noisy family's noise level is η, λ is the mixing weight")
        if section.split(".")[0] == "4" and "\\rho" in line:
            problems.append(f"{where} — the imbalance ratio is IR, ρ is the biased family's bias")
        if "\\tau" in line and not (
            section.split(".")[0] in ("1", "5")  # the notation table, CLIP
            or section == "4.4"  # LDAM's logits divided by τ (1/τ = 30)
            or re.search(r"paper's \$\\tau\$", line)  # "the Remix paper's τ is our θ"
        ):
            problems.append(f"{where} — τ is the temperature only (Remix's threshold is θ)")
        if section == "4.2" and re.search(r"the \$k\$ nearest|\$k \+ 1", line):
            problems.append(f"{where} — k is a class index; the number of neighbours is k_nn")
    return problems


_RETIRED_IN_NOTEBOOKS = [
    (r"s\s*=\s*e\^t", "the logit scale is 1/τ, not s = e^t"),
    (r"T\s*I\^\\top|I\s*I\^\\top|T\s*T\^\\top|I·Iᵀ|T·Tᵀ|L = \\frac\{T", "the soft CLIP loss uses X̂, Ŷ, P, 𝒯"),
    (r"(?<![\w\\])s\$?\s*(=|≤|\\le)\s*\d", "a logit scale is 1/τ, s is the softmax probabilities"),
    (r"scale s\b", "the logit scale is 1/τ"),
    (r"\(1\s*[−-]\s*(λ|\\lambda)\)\s*(·|\\,)?\s*(strong|Q_)", "the noisy family's noise level is η"),
    (r"(\\tau|τ)\s*=\s*0\.5", "Remix's threshold is θ"),
    (r"\bp = W_1 h", "the MLP head's hidden vector is h'"),
    (r"rises with p\b|against p\b", "the probability of the CL is s_ȳ"),
    (r"Recall@K\b", "K is the number of classes"),
    (r"\bm labels\b|\bof m labels", "the number of CLs per example is |Ȳ|"),
    (r"\\gamma_c \\propto|γ_c ∝", "LDAM's class margins are Δ_c"),
    (r"g\(h\) = Wh \+ b\b", "b is SigLIP's bias"),
    (r"Q_\\theta", "θ is Remix's threshold; cpe-t's matrix is Q_Θ"),
]


def markdown_cells(notebook_text: str):
    for index, cell in enumerate(json.loads(notebook_text)["cells"]):
        if cell["cell_type"] == "markdown":
            source = cell["source"]
            yield index, "".join(source) if isinstance(source, list) else source


def check_notebook(notebook_text: str, name: str = "") -> list[str]:
    """Problems: retired meanings in a notebook's markdown cells."""
    problems = []
    imbalanced = name.startswith("04")
    for index, source in markdown_cells(notebook_text):
        for line in source.splitlines():
            where = f"{name} cell {index}: {line.strip()[:90]}"
            for pattern, why in _RETIRED_IN_NOTEBOOKS:
                if re.search(pattern, line):
                    problems.append(f"{where} — {why}")
            if imbalanced and re.search(r"\\rho|ρ", line):
                problems.append(f"{where} — the imbalance ratio is IR, ρ is the biased family's bias")
    return problems


def test_the_glossary_lists_every_symbol_once():
    assert check_glossary(GLOSSARY.read_text(encoding="utf-8")) == []


def test_the_glossary_has_no_table_of_reused_letters():
    assert "Letters the reference reuses" not in GLOSSARY.read_text(encoding="utf-8")


def test_the_reference_uses_no_retired_meaning():
    assert check_reference(REFERENCE.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_notebooks_markdown_uses_no_retired_meaning(path):
    assert check_notebook(path.read_text(encoding="utf-8"), path.name) == []


# The checks themselves: each catches the notation it is meant to refuse.

def test_check_glossary_refuses_a_symbol_listed_twice():
    rows = "\n".join(f"| ${chr(97 + i)}$ | a meaning | |" for i in range(24))
    table = f"## Symbols\n\n| symbol | meaning | code |\n|---|---|---|\n{rows}\n"
    assert check_glossary(table + "\n## Terms\n") == []
    reused = "\n### Reused\n\n| where | letter | means |\n|---|---|---|\n| §4 | $a$ | again |\n"
    assert check_glossary(table + reused + "\n## Terms\n") == ["symbol $a$ is listed twice"]
    assert check_glossary(table.replace("| $b$ |", "| $b$ (MAMix), $a$ |") + "\n## Terms\n") \
        == ["symbol $a$ is listed twice"]


@pytest.mark.parametrize("section, line", [
    ("### 2.1 Q", r"| `noisy` | $(1-\lambda)\,Q_{\text{strong}} + \lambda J/K$ | |"),
    ("### 4.1 Long-tailed data", r"$\rho = n_{\max}/n_{\min}$"),
    ("### 4.3 Remix", r"with $\kappa = 3$, $\tau = 0.5$:"),
    ("### 5.1 Towers", r"Logits use a learnable scale $s = e^t$"),
    ("### 5.2 Losses", r"logits $L = T I^\top/\tau$"),
    ("### 5.2 Losses", r"initialised at $s = 10$, $b = -10$."),
    ("### 2.1 Sampling", r"`num_cl` $= m \ge 1$ draws $m$"),
    ("### 4.2 SMOTE", r"one of the $k$ nearest **same-class** neighbours"),
])
def test_check_reference_refuses_each_retired_meaning(section, line):
    assert check_reference(f"## 1. Notation\n\n{section}\n\n{line}\n") != []


def test_check_reference_accepts_tau_where_it_is_the_temperature():
    text = ("## 4. Imbalance\n\n### 4.3 Remix\n\nthreshold $\\theta = 0.5$ (the Remix paper's $\\tau$)\n\n"
            "### 4.4 LDAM\n\n$1/\\tau = 30$\n\n## 5. CLIP\n\nlogits $P = \\hat X\\hat Y^\\top/\\tau$\n")
    assert check_reference(text) == []


def test_check_notebook_refuses_retired_meanings_in_markdown_only():
    def notebook(markdown, code=""):
        return json.dumps({"cells": [{"cell_type": "markdown", "source": [markdown]},
                                     {"cell_type": "code", "source": [code]}]})
    assert check_notebook(notebook("`noisy` is (1 − λ)·strong + λ/K"), "01") != []
    assert check_notebook(notebook(r"$$L = \frac{T I^\top}{\tau}$$"), "05") != []
    assert check_notebook(notebook("at $s$ = 5, 14.3 and 50"), "05") != []
    assert check_notebook(notebook("imbalance ratio ρ = 10"), "04_smote") != []
    assert check_notebook(notebook("the biased Q (ρ = 10)"), "02_mixup") == []
    assert check_notebook(notebook("fine", code="tau = 0.5  # s = 5"), "05") == []
