"""Data-parallel training: two Gloo processes on the CPU must compute what one process computes on
the combined batch (an MLP step through ``fit``, the gathered CLIP losses and their gradients, a CLIP
step through ``fit``), ``DeviceLoader``'s shards must partition each epoch, and
``torchrun -m labkit clip`` must write its rows from rank 0 only.

The two-process checks run in ONE pair of spawned processes (starting Python and torch twice costs
seconds on a busy 2-core machine); each check's result, or its traceback, comes back in a file and
is asserted by its own test. Every wait has a deadline, so a hang fails instead of blocking.
"""
from __future__ import annotations

import csv
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from labkit import distributed, fit
from labkit.clip.losses import clip_loss, siglip_loss, soft_clip_loss
from labkit.data import DeviceLoader
from labkit.train import BestCheckpoint

pytestmark = pytest.mark.distributed
WORLD = 2
DEADLINE_S = 180


# ---------------------------------------------------------------------------------------------- data
def _mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))


def _mlp_data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(24, 5, generator=g), torch.randint(0, 3, (24,), generator=g)


class _TemperedCE(nn.Module):
    """A loss with a parameter of its own (outside the model), like CPE-T's transition matrix."""

    def __init__(self):
        super().__init__()
        self.log_t = nn.Parameter(torch.tensor(0.3))

    def forward(self, model, batch):
        return F.cross_entropy(model(batch[0]) * self.log_t.exp(), batch[1])


def _fit_mlp(model, loss_fn, strategy):
    x, y = _mlp_data()
    loader = DeviceLoader(x, y, batch_size=8, seed=1, device="cpu")
    checkpoint = BestCheckpoint(lambda m: float(F.cross_entropy(m(x), y).detach()), mode="min")
    history = fit(model, loader, loss_fn, epochs=2, lr=0.1, optimizer="sgd", device="cpu", progress=False,
                  callbacks=[checkpoint], strategy=strategy)
    return history, checkpoint.best_epoch


def _embeddings(requires_grad: bool):
    g = torch.Generator().manual_seed(3)
    img, txt = torch.randn(8, 6, generator=g), torch.randn(8, 6, generator=g)
    groups = torch.tensor([0, 1, 2, 1, 3, 0, 4, 5])
    if requires_grad:
        img.requires_grad_(True), txt.requires_grad_(True)
    return img, txt, groups


LOSS_CASES = {
    "clip": lambda i, t, g: clip_loss(i, t, 7.0),
    "clip_groups": lambda i, t, g: clip_loss(i, t, 7.0, groups=g),
    "soft": lambda i, t, g: soft_clip_loss(i, t, 0.5, scale=4.0),
    "siglip_groups": lambda i, t, g: siglip_loss(i, t, 10.0, -10.0, groups=g),
}


class _Tower(nn.Module):
    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.net, self.out_dim = nn.Sequential(nn.Flatten(), nn.Linear(in_dim, out_dim)), out_dim

    def forward(self, x):
        return self.net(x)


def _fit_dual(loss: str, strategy: str):
    from labkit.clip import CLIPObjective, DualEncoder

    torch.manual_seed(5)
    model = DualEncoder(_Tower(16, 6), _Tower(4, 5), "mlp", 4, dropout=0.0, freeze_text=True)
    g = torch.Generator().manual_seed(6)
    images, feats = torch.randn(16, 1, 4, 4, generator=g), torch.randn(5, 5, generator=g)
    ids = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 0, 1, 1, 2, 3])
    objective = CLIPObjective(loss, text_features=feats, co_positives=True)
    loader = DeviceLoader(images, ids, batch_size=8, seed=2, device="cpu", drop_last=True)
    history = fit(model, loader, objective, epochs=2, lr=0.05, optimizer="sgd", device="cpu", progress=False,
                  strategy=strategy)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, history


# ------------------------------------------------------------------------------ the spawned ranks
def _check_mlp(rank):
    # "auto" under WORLD_SIZE=2: fit joins the group itself; rank 1 starts from other weights and DDP
    # copies rank 0's
    model, loss_fn = _mlp(seed=rank), _TemperedCE()
    history, best = _fit_mlp(model, loss_fn, "auto")
    return {"history": history.records, "best_epoch": best, "model": model.state_dict(),
            "log_t": float(loss_fn.log_t.detach())}


def _check_losses(rank):
    out = {}
    for name, loss_fn in LOSS_CASES.items():
        img, txt, groups = _embeddings(False)
        sl = slice(rank * 4, rank * 4 + 4)
        mine_i, mine_t = img[sl].clone().requires_grad_(True), txt[sl].clone().requires_grad_(True)
        value = loss_fn(distributed.gather_with_grad(mine_i), distributed.gather_with_grad(mine_t),
                        distributed.gather(groups[sl]))
        value.backward()
        out[name] = (float(value.detach()), mine_i.grad, mine_t.grad)
    return out


def _check_loader(rank):
    out = {}
    for n, batch, drop_last in ((12, 4, False), (11, 4, False), (11, 4, True), (3, 2, False)):
        loader = DeviceLoader(torch.arange(n), batch_size=batch, seed=7, device="cpu", drop_last=drop_last,
                              return_index=True)
        distributed.shard_loader(loader)
        out[(n, batch, drop_last)] = (len(loader), [[b[1].tolist() for b in loader] for _ in range(2)])
    unseeded = DeviceLoader(torch.arange(10), batch_size=10, device="cpu")
    distributed.shard_loader(unseeded)
    distributed.share_seed(unseeded)
    out["unseeded"] = next(iter(unseeded))[0].tolist()
    return out


def _check_bypass(rank):
    """A loss that reaches the bare model skips DDP's averaging: fit must notice, not diverge silently."""
    bare = lambda net, b: F.cross_entropy(distributed.unwrap(net)(b[0]), b[1])  # noqa: E731
    try:
        _fit_mlp(_mlp(seed=0), bare, "ddp")
    except RuntimeError as exc:
        return str(exc)
    return None


CHECKS = {"mlp": _check_mlp, "losses": _check_losses, "loader": _check_loader,
          "dual_hard": lambda r: _fit_dual("hard", "ddp"), "dual_soft": lambda r: _fit_dual("soft", "ddp"),
          "bypass": _check_bypass}


def _rank_main(rank: int, port: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(WORLD), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = ("ok", check(rank))
        except Exception:  # noqa: BLE001 - reported by the test of this check
            results[name] = ("error", traceback.format_exc())
    with open(Path(folder) / f"rank{rank}.pkl", "wb") as f:
        pickle.dump(results, f)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Run every check in two spawned Gloo processes; ``ranks[r][name]`` is rank r's result."""
    import torch.multiprocessing as mp

    folder = tmp_path_factory.mktemp("ddp")
    context = mp.start_processes(_rank_main, args=(_free_port(), str(folder)), nprocs=WORLD, join=False,
                                 start_method="spawn")
    deadline = time.monotonic() + DEADLINE_S
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f"the {WORLD} ranks did not finish within {DEADLINE_S} s (a hang?)")
    finally:
        for p in context.processes:
            if p.is_alive():
                p.kill()
    out = []
    for r in range(WORLD):
        with open(folder / f"rank{r}.pkl", "rb") as f:
            out.append(pickle.load(f))
    return out


def _result(ranks, name):
    values = []
    for r, results in enumerate(ranks):
        status, value = results[name]
        if status != "ok":
            pytest.fail(f"rank {r} failed in check {name!r}:\n{value}")
        values.append(value)
    return values


# --------------------------------------------------------------------------------------- the tests
def test_ddp_mlp_steps_equal_one_process_on_the_combined_batch(ranks):
    """(a) 2 ranks x 4 examples per step = 1 process x 8: the same History (per-rank losses averaged)
    and the same best epoch; the weights themselves are compared in the next test."""
    r0, r1 = _result(ranks, "mlp")
    single, best = _fit_mlp(_mlp(seed=0), _TemperedCE(), "single")
    assert r0["history"] == r1["history"]  # all-reduced: identical on both ranks, seconds included
    assert r0["best_epoch"] == r1["best_epoch"] == best
    for got, want in zip(r0["history"], single.records):
        assert got["loss"] == pytest.approx(want["loss"], abs=1e-6)
        assert got["val_score"] == pytest.approx(want["val_score"], abs=1e-6)


def test_ddp_weights_equal_one_process_step(ranks):
    """(a) Parameters after two epochs of SGD (6 steps) through fit: within 1e-6 of one process,
    the loss function's own parameter (averaged by hand, DDP does not see it) included."""
    model, loss_fn = _mlp(seed=0), _TemperedCE()
    _fit_mlp(model, loss_fn, "single")
    for r, got in enumerate(_result(ranks, "mlp")):
        for k, v in model.state_dict().items():
            assert torch.allclose(got["model"][k], v, atol=1e-6), (r, k)
        assert abs(got["log_t"] - float(loss_fn.log_t.detach())) < 1e-6
    assert not torch.allclose(_mlp(seed=1)[0].weight, _mlp(seed=0)[0].weight)  # rank 1 did start elsewhere


@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_gathered_loss_and_gradient_equal_the_combined_batch(ranks, name):
    """(b) Each rank holds 4 of 8 pairs; the loss of the gathered embeddings is the combined batch's
    loss, and each rank's gradient is the combined batch's gradient of its own 4 pairs."""
    img, txt, groups = _embeddings(True)
    want = LOSS_CASES[name](img, txt, groups)
    want.backward()
    for r, results in enumerate(_result(ranks, "losses")):
        value, grad_i, grad_t = results[name]
        assert value == pytest.approx(float(want.detach()), abs=1e-6)
        assert torch.allclose(grad_i, img.grad[r * 4:r * 4 + 4], atol=1e-6)
        assert torch.allclose(grad_t, txt.grad[r * 4:r * 4 + 4], atol=1e-6)


@pytest.mark.parametrize("loss", ["hard", "soft"])
def test_clip_objective_ddp_fit_equals_one_process(ranks, loss):
    """(b) CLIPObjective through fit: towers called through the DDP wrapper, embeddings and report
    ids gathered, gradients scaled for DDP's average: the same weights and losses as one process."""
    got = _result(ranks, f"dual_{loss}")
    want_state, want_history = _fit_dual(loss, "single")
    for r, (state, history) in enumerate(got):
        assert [h["loss"] for h in history.records] == pytest.approx(want_history["loss"], abs=1e-5)
        for k, v in want_state.items():
            assert torch.allclose(state[k], v, atol=1e-5), (r, k)
    assert got[0][1].records == got[1][1].records


def test_loader_shards_partition_each_epoch(ranks):
    """(c) Same permutation on both ranks; rank r takes part r of every global batch; equal steps."""
    r0, r1 = _result(ranks, "loader")
    for key in [(12, 4, False), (11, 4, False), (11, 4, True), (3, 2, False)]:
        n, batch, drop_last = key
        (steps0, epochs0), (steps1, epochs1) = r0[key], r1[key]
        single = DeviceLoader(torch.arange(n), batch_size=batch, seed=7, device="cpu", drop_last=drop_last)
        assert steps0 == steps1 == len(single)
        for e0, e1, whole in zip(epochs0, epochs1, [[b[0].tolist() for b in single] for _ in range(2)]):
            assert len(e0) == len(e1) == len(whole)  # equal step counts
            for a, b, w in zip(e0, e1, whole):
                assert len(a) == len(b) == -(-len(w) // WORLD)  # equal shares
                joined = a + b
                assert joined[:len(w)] == w  # rank 0 then rank 1 = the one-process batch
                # padding: the epoch's first examples, as many as the batch lacks
                assert joined[len(w):] == sum(whole, [])[:len(joined) - len(w)]
            seen = sum(e0, []) + sum(e1, [])
            if n % batch == 0 and batch % WORLD == 0:
                assert sorted(seen) == list(range(n))  # an exact partition of the epoch
            elif not drop_last:
                assert set(seen) == set(range(n))
    u0, u1 = r0["unseeded"], r1["unseeded"]
    assert sorted(u0 + u1) == list(range(10))  # no seed: rank 0's seed is shared, the halves are disjoint


def test_a_loss_that_bypasses_the_ddp_wrapper_is_caught(ranks):
    for message in _result(ranks, "bypass"):
        assert message is not None and "must call model(...)" in message


def test_loader_shard_checks_its_arguments():
    loader = DeviceLoader(torch.arange(10), batch_size=5, seed=0, device="cpu")
    with pytest.raises(ValueError, match="divisible by the 2 data-parallel ranks"):
        loader.shard(0, 2)
    with pytest.raises(ValueError, match="rank must be"):
        DeviceLoader(torch.arange(10), batch_size=4, seed=0).shard(2, 2)
    with pytest.raises(ValueError, match="cannot be shared among 4"):
        DeviceLoader(torch.arange(3), batch_size=4, seed=0).shard(0, 4)
    assert [b[0].tolist() for b in loader.shard(0, 1)] == [b[0].tolist() for b in
                                                           DeviceLoader(torch.arange(10), batch_size=5, seed=0)]


def test_fit_ddp_outside_torchrun_is_a_clear_error(monkeypatch):
    """(e) strategy="ddp" in one process stops before any work; a bad name lists the valid ones."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    model = _mlp(0)
    before = [p.detach().clone() for p in model.parameters()]
    x, y = _mlp_data()
    loader = DeviceLoader(x, y, batch_size=8, seed=0)
    loss = lambda m, b: F.cross_entropy(m(b[0]), b[1])  # noqa: E731
    with pytest.raises(ValueError, match="strategy='ddp' needs several processes.*torchrun"):
        fit(model, loader, loss, epochs=1, lr=0.1, progress=False, strategy="ddp")
    with pytest.raises(ValueError, match="'auto', 'ddp', 'single'"):
        fit(model, loader, loss, epochs=1, lr=0.1, progress=False, strategy="gpu")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    single = fit(model, loader, loss, epochs=1, lr=0.1, progress=False, strategy="single")
    assert len(single) == 1


def test_ddp_refuses_a_loader_it_cannot_shard_before_joining(monkeypatch):
    """Under torchrun's environment (no peers here) the errors come before any rendezvous, not after a wait."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    loss = lambda m, b: F.cross_entropy(m(b[0]), b[1])  # noqa: E731
    x, y = _mlp_data()
    with pytest.raises(ValueError, match="needs a loader with shard"):
        fit(_mlp(0), [(x, y)], loss, epochs=1, lr=0.1, progress=False, strategy="ddp", device="cpu")
    with pytest.raises(ValueError, match="batch_size=5 is the global batch and must be divisible by the 2"):
        fit(_mlp(0), DeviceLoader(x, y, batch_size=5, seed=0, device="cpu"), loss, epochs=1, lr=0.1,
            progress=False, device="cpu")


def test_torchrun_clip_writes_rows_from_rank_0_only(tmp_path):
    """(d) torchrun --nproc_per_node=2 -m labkit clip: both ranks train together, one file of rows."""
    out = tmp_path / "x.csv"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LABKIT_QUICK": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}",
           "-m", "labkit", "clip", "--epochs", "1", "--n-pairs", "60", "--batch-size", "8", "--image-size", "16",
           "--embed-dim", "8", "--text", "tiny-bert", "--seeds", "0", "1", "--device", "cpu", "--quiet",
           "--out", str(out)]
    # its own session: on a hang, torchrun AND its two ranks are killed, not left behind
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"torchrun did not finish within {DEADLINE_S} s")
    done = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert [r["seed"] for r in rows] == ["0", "1"]  # one row per seed, written once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.config.json", "x.csv"]  # no journal left
    assert done.stdout.count("zero_shot_accuracy") == 1  # the summary printed by rank 0 only
    assert done.stderr.count("wrote 2 rows") == 1
