"""labkit.check: the package's own functions pass, the stubs fail as "not implemented yet", and a
plausible wrong implementation fails with a message that names the mistake."""
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from labkit import check
from labkit.clip.losses import soft_clip_loss
from labkit.mix.margin import mamix_weight

NAMES = check.list_checks()


def _run(name, fn):
    result = check.implementation(name, fn, verbose=False)
    return result, str(result)


@pytest.mark.parametrize("name", NAMES)
def test_the_package_passes_its_own_check(name, capsys):
    result = check.implementation(name, check.reference(name))
    assert result.passed and bool(result) and result.checks >= 10, str(result)
    assert capsys.readouterr().out.strip() == f"✓ {name}: passed {result.checks} checks"


@pytest.mark.parametrize("name", NAMES)
def test_a_stub_is_not_implemented_yet(name):
    text = check.STUBS[name]
    assert text.startswith("def ") and '"""' in text and "raise NotImplementedError" in text
    assert "labkit.check.check_" in text and "docs/reference.md" in text
    result, report = _run(name, check.stub(name))
    assert not result.passed and report.startswith(f"✗ {name}") and "not implemented yet" in report


def _pick(v, c):
    return v.gather(1, c[:, None]).squeeze(1)


def _soft_clip_rows(i, t, tau=1.0, axis=-1):
    logits = t @ i.T / tau
    y = F.softmax((i @ i.T + t @ t.T) / 2 * tau, dim=axis)
    ce = -(y * F.log_softmax(logits, -1)).sum(-1) - (y.T * F.log_softmax(logits.T, -1)).sum(-1)
    return (ce / 2).mean()


def _partners_anywhere(ids, g):
    return torch.randint(len(ids), (len(ids),), generator=g)


def _next_in_cluster(ids, g):  # deterministic: the next cluster-mate in batch order
    out = torch.arange(len(ids))
    for c in ids.unique():
        members = torch.nonzero(ids == c).flatten()
        out[members] = members.roll(1)
    return out


WRONG = [
    ("scl-nl", lambda z, c: -torch.log(1 - _pick(z.softmax(1), c)).mean(), ["infinite value", "no eps"]),
    ("scl-nl", lambda z, c: -torch.log(1 - _pick(z.softmax(1), c) + 1e-6), ["wrong shape", ".mean()"]),
    ("scl-nl", lambda z, c: -torch.log(_pick(z.softmax(1), c) + 1e-6).mean(), ["cross-entropy on the complementary"]),
    ("scl-nl", lambda z, c: torch.tensor(-torch.log(1 - _pick(z.softmax(1), c) + 1e-6).mean().item()),
     ["no gradient"]),
    ("fwd", lambda z, c, q: -torch.log(_pick(z.softmax(1) @ q.T, c) + 1e-6).mean(), ["Q is transposed"]),
    ("fwd", lambda z, c, q: -torch.log(_pick(z.softmax(1) @ q, c)).mean(), ["expected 7.97", "no eps"]),
    ("pair-noise-rate", lambda y, c, p: float((c == y[p])[p != torch.arange(len(y))].double().mean()),
     ["only one direction"]),
    ("pair-noise-rate", lambda y, c, p: float(((c == y[p]) | (c[p] == y)).double().mean()), ["unmixed examples"]),
    ("expected-pair-noise", lambda q, p: float(p @ (q + q.T) @ p), ["counted twice"]),
    ("intra-cluster-partners", _partners_anywhere, ["ANOTHER cluster"]),
    ("intra-cluster-partners", _next_in_cluster, ["not uniform", "every seed gave the same partners"]),
    ("mamix-weight", lambda lam, ni, nj, r=-0.25: mamix_weight(lam, nj, ni, r), ["m for the wrong class", "lam=0.1"]),
    ("mamix-weight", lambda lam, ni, nj, r=-0.25: lam, ["Mixup's w = lam"]),
    ("soft-clip-loss", lambda i, t, tau=1.0: _soft_clip_rows(i, t, tau, axis=0), ["wrong axis"]),
    ("soft-clip-loss", lambda i, t, tau=1.0: soft_clip_loss(i, t, tau, normalize=False, detach_targets=True),
     ["wrong gradient", "detached"]),
]


@pytest.mark.parametrize("name, fn, words", WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_a_plausible_mistake_is_named(name, fn, words):
    result, report = _run(name, fn)
    assert not result.passed
    for word in words:
        assert word in report, report


def test_value_failures_show_the_input_the_expected_and_the_received_value():
    _, report = _run("fwd", lambda z, c, q: -torch.log(_pick(z.softmax(1) @ q.T, c) + 1e-6).mean())
    assert "logits=[[30.0, 0.0, 0.0]" in report and "expected 7.97" in report and "got 7.43" in report
    _, report = _run("scl-nl", lambda z, c: 1 / 0)
    assert "raised ZeroDivisionError" in report and "(the same on 5 more inputs)" in report
    _, report = _run("scl-nl", lambda z, c: None)
    assert "returned None" in report


def test_strict_raises_an_assertion_error_and_names_are_checked(capsys):
    with pytest.raises(check.CheckFailed, match="not implemented yet") as info:
        check.check_mamix_weight(check.stub("mamix-weight"), strict=True)
    assert isinstance(info.value, AssertionError)
    assert "✗ mamix-weight" in capsys.readouterr().out
    assert check.check_mamix_weight(check.reference("mamix-weight"), strict=True, verbose=False).passed
    with pytest.raises(ValueError, match="valid names: scl-nl, fwd"):
        check.implementation("scl", print)
    assert not check.check_scl_nl("not a function", verbose=False).passed


def test_nothing_in_labkit_imports_the_checker():
    spec = importlib.util.spec_from_file_location("_structure", Path(__file__).with_name("test_structure.py"))
    structure = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(structure)
    graph = structure.import_graph(Path(check.__file__).resolve().parents[1])
    users = [m for m, deps in graph.items() if any(d.startswith("labkit.check") for d in deps)
             and not m.startswith("labkit.check")]
    assert not users, f"labkit.check is the top of the graph; imported by {users}"
