import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import labkit
from labkit.data import DeviceLoader, from_arrays, load_dataset
from labkit.train import BestCheckpoint, History, embed, evaluate, fit, logits, predict, warmup_cosine


def ce(model, batch):
    x, y = batch
    return F.cross_entropy(model(x), y)


def test_fit_learns_digits_and_records_history():
    labkit.set_seed(0)
    train, test = load_dataset("digits"), load_dataset("digits", "test")
    model = labkit.build_model("linear", train.in_shape, 10)
    history = fit(model, DeviceLoader(train, batch_size=64, seed=0), ce, epochs=3, lr=0.05,
                  eval_data=test, progress=False)
    assert isinstance(history, History) and len(history) == 3
    assert history["loss"][-1] < history["loss"][0]
    assert history.last["eval_accuracy"] > 0.8
    assert {"epoch", "loss", "eval_accuracy", "seconds"} <= set(history.keys())
    with pytest.raises(KeyError, match="no 'nope'"):
        history["nope"]


def test_same_seed_same_training():
    train = load_dataset("digits")
    results = []
    for _ in range(2):
        labkit.set_seed(1)
        model = labkit.build_model("mlp", train.in_shape, 10, hidden=32)
        fit(model, DeviceLoader(train, batch_size=128, seed=1), ce, epochs=1, lr=1e-2, progress=False)
        results.append(logits(model, train.x[:5]))
    assert torch.equal(results[0], results[1])


def test_nan_loss_names_epoch_and_step():
    data = from_arrays(torch.randn(20, 2), torch.arange(20) % 2)
    model = labkit.build_model("linear", (2,), 2)
    calls = {"n": 0}

    def exploding(model, batch):
        calls["n"] += 1
        loss = ce(model, batch)
        return loss * float("nan") if calls["n"] == 4 else loss

    with pytest.raises(FloatingPointError, match="epoch 2, step 1"):
        fit(model, DeviceLoader(data, batch_size=8, seed=0), exploding, epochs=3, lr=0.1, progress=False)


def test_dict_logs_set_epoch_and_module_parameters_are_trained():
    data = from_arrays(torch.randn(32, 3), torch.arange(32) % 2)

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.temperature = nn.Parameter(torch.ones(()))
            self.epochs_seen = []

        def set_epoch(self, epoch):
            self.epochs_seen.append(epoch)

        def forward(self, model, batch):
            x, y = batch
            return {"loss": F.cross_entropy(model(x) * self.temperature, y), "constant": 2.0}

    loss_fn = Scaled()
    before = loss_fn.temperature.item()
    h = fit(labkit.build_model("linear", (3,), 2), DeviceLoader(data, batch_size=8, seed=0), loss_fn,
            epochs=2, lr=0.1, progress=False)
    assert loss_fn.epochs_seen == [1, 2]
    assert h["constant"] == [2.0, 2.0]
    assert loss_fn.temperature.item() != before


def test_callbacks_can_stop_and_best_checkpoint_restores():
    data = from_arrays(torch.randn(40, 2), torch.arange(40) % 2)
    model = labkit.build_model("linear", (2,), 2)
    scores = iter([3.0, 1.0, 2.0, 5.0])
    snapshots = []

    def score(m):
        snapshots.append(m.head.weight.detach().clone())
        return {"scel": next(scores)}

    best = BestCheckpoint(score, key="scel", mode="min")
    h = fit(model, DeviceLoader(data, batch_size=8, seed=0), ce, epochs=4, lr=0.5, progress=False,
            callbacks=[best])
    assert best.best_epoch == 2 and h["val_scel"] == [3.0, 1.0, 2.0, 5.0]
    best.restore(model)
    assert torch.equal(model.head.weight, snapshots[1])
    h = fit(model, DeviceLoader(data, batch_size=8, seed=0), ce, epochs=5, lr=0.1, progress=False,
            callbacks=[lambda epoch, m, record: epoch == 2])
    assert len(h) == 2


def test_evaluate_is_exact_per_example():
    class Fixed(nn.Module):
        """Predicts class 0 for the first 7 examples of the batch order given, else class 1."""

        def __init__(self):
            super().__init__()
            self.dummy = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.stack([x[:, 0], -x[:, 0]], 1)

    x = torch.tensor([[1.0]] * 7 + [[-1.0]] * 3)
    y = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    result = evaluate(Fixed(), from_arrays(x, y), batch_size=3)  # uneven last batch
    assert result["accuracy"] == pytest.approx(0.8)  # a mean of batch means would be 0.75
    assert result["confusion"].tolist() == [[5, 0], [2, 3]]
    assert result["per_class_accuracy"] == pytest.approx([1.0, 0.6])
    assert predict(Fixed(), x, predict_fn=lambda z: z.argmin(1)).tolist() == [1] * 7 + [0] * 3


def test_embed_returns_features_and_bad_args():
    model = labkit.build_model("mlp", (4,), 3, hidden=16)
    assert embed(model, torch.randn(10, 4)).shape == (10, 16)
    with pytest.raises(ValueError, match="features"):
        embed(nn.Linear(4, 3), torch.randn(2, 4))
    loader = DeviceLoader(torch.randn(8, 4), torch.zeros(8, dtype=torch.long), batch_size=4)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, loader, ce, epochs=0, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        fit(model, loader, ce, epochs=1, lr=-1.0)
    with pytest.raises(ValueError, match="optimizer"):
        fit(model, loader, ce, epochs=1, lr=0.1, optimizer="rmsprop")
    assert not math.isnan(fit(model, loader, ce, epochs=1, lr=0.1, optimizer="sgd", scheduler="cosine",
                              progress=False).last["loss"])


class _Slope(nn.Module):
    """loss = w, so the gradient is always 1 and an Adam step moves w by exactly the step's lr
    (m̂/√v̂ = 1 for a constant gradient): the lr of every step can be read off w."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))


def _lrs_per_step(epochs, steps_per_epoch, **fit_kw):
    model, seen = _Slope(), []

    def loss_fn(m, batch):
        seen.append(float(m.w.detach()))
        return m.w + 0 * batch[0].sum()

    loader = DeviceLoader(torch.zeros(2 * steps_per_epoch), batch_size=2, shuffle=False)
    fit(model, loader, loss_fn, epochs=epochs, lr=0.1, amp=False, progress=False, **fit_kw)
    seen.append(float(model.w.detach()))
    return [a - b for a, b in zip(seen, seen[1:])]


def test_warmup_cosine_steps_per_batch_by_the_formula():
    epochs, per_epoch, warmup = 3, 4, 3
    total = epochs * per_epoch
    expected = [0.1 * warmup_cosine(t, total, warmup) for t in range(total)]
    assert expected[:4] == pytest.approx([0.0, 0.1 / 3, 0.2 / 3, 0.1])
    assert expected[-1] == pytest.approx(0.05 * (1 + math.cos(math.pi * 8 / 9)))
    assert warmup_cosine(total, total, warmup) == pytest.approx(0.0)
    lrs = _lrs_per_step(epochs, per_epoch, scheduler="warmup-cosine", warmup_steps=warmup)
    assert lrs == pytest.approx(expected, abs=1e-6)
    # A float is a fraction of all steps: 0.25 of 12 = 3 steps, the same schedule.
    assert _lrs_per_step(epochs, per_epoch, scheduler="warmup-cosine", warmup_steps=0.25) == pytest.approx(
        expected, abs=1e-6)


def test_cosine_still_steps_once_per_epoch():
    lrs = _lrs_per_step(3, 2, scheduler="cosine")
    per_epoch = [0.1 * 0.5 * (1 + math.cos(math.pi * e / 3)) for e in range(3)]
    assert lrs == pytest.approx([lr for lr in per_epoch for _ in range(2)], abs=1e-6)


def test_user_scheduler_per_epoch_or_per_step():
    def factory(opt):
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 / (t + 1))

    assert _lrs_per_step(2, 3, scheduler=factory) == pytest.approx([0.1] * 3 + [0.05] * 3, abs=1e-6)
    assert _lrs_per_step(2, 3, scheduler=factory, scheduler_interval="step") == pytest.approx(
        [0.1 / (t + 1) for t in range(6)], abs=1e-6)


@pytest.mark.parametrize("kw,match", [
    ({"scheduler": "linear"}, "scheduler must be one of None, cosine, warmup-cosine"),
    ({"scheduler": 3}, "scheduler must be callable"),
    ({"scheduler": "cosine", "scheduler_interval": "step"}, "once per epoch"),
    ({"scheduler": lambda opt: None, "scheduler_interval": "batch"}, "scheduler_interval must be one of epoch, step"),
    ({"scheduler": "warmup-cosine", "warmup_steps": 1.5}, "warmup_steps"),
    ({"scheduler": "warmup-cosine", "warmup_steps": -1}, "warmup_steps"),
    ({"scheduler": "warmup-cosine", "warmup_steps": True}, "warmup_steps"),
    ({"epochs": True}, "epochs"),
    ({"lr": float("nan")}, "lr"),
    ({"weight_decay": -0.1}, "weight_decay"),
    ({"check_every": 0}, "check_every"),
])
def test_bad_training_arguments(kw, match):
    loader = DeviceLoader(torch.randn(8, 4), torch.zeros(8, dtype=torch.long), batch_size=4)
    args = {"epochs": 1, "lr": 0.1, **kw}
    with pytest.raises(ValueError, match=match):
        fit(labkit.build_model("linear", (4,), 2), loader, ce, progress=False, **args)


def test_nan_check_read_from_the_device_every_few_steps():
    """The GPU path (a device-side flag read every ``check_every`` steps) names the first bad step."""
    data = from_arrays(torch.randn(40, 2), torch.arange(40) % 2)
    calls = {"n": 0}

    def exploding(model, batch):
        calls["n"] += 1
        loss = ce(model, batch)
        return loss * float("inf") if calls["n"] in (7, 8) else loss

    with pytest.raises(FloatingPointError, match=r"became inf at epoch 2, step 2"):
        fit(labkit.build_model("linear", (2,), 2), DeviceLoader(data, batch_size=8, seed=0), exploding,
            epochs=3, lr=0.1, progress=False, check_every=4)
    assert calls["n"] == 9  # read at step 4 of epoch 2 (the 9th call), not at once


def test_logged_tensors_are_averaged_over_the_epoch():
    data = from_arrays(torch.randn(16, 2), torch.arange(16) % 2)
    step = {"n": 0}

    def with_logs(model, batch):
        step["n"] += 1
        return {"loss": ce(model, batch), "tensor_log": torch.tensor(float(step["n"])), "float_log": 1.0}

    h = fit(labkit.build_model("linear", (2,), 2), DeviceLoader(data, batch_size=4, seed=0), with_logs,
            epochs=2, lr=0.1, progress=False)
    assert h["tensor_log"] == [2.5, 6.5] and h["float_log"] == [1.0, 1.0]
    assert all(isinstance(r["tensor_log"], float) for r in h)


def test_fit_leaves_ieee_arithmetic_as_it_found_it():
    """Denormals are flushed during CPU training only: afterwards a subnormal float survives."""
    import torch.nn.functional as F

    from labkit import DeviceLoader, build_model, fit, from_arrays

    data = from_arrays(torch.randn(32, 4), torch.arange(32) % 2)
    model = build_model("linear", (4,), 2)
    fit(model, DeviceLoader(data, batch_size=16, seed=0, device="cpu"),
        lambda m, b: F.cross_entropy(m(b[0]), b[1]), epochs=1, lr=1e-2, progress=False, device="cpu")
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # subnormal in float32
    assert float(tiny * 1.0) != 0.0
