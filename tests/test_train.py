import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import labkit
from labkit.data import DeviceLoader, from_arrays, load_dataset
from labkit.train import BestCheckpoint, History, embed, evaluate, fit, logits, predict


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
