import pytest
import torch

from labkit.data import DeviceLoader, load_dataset


def test_each_epoch_visits_every_example_once_in_a_new_order():
    x, y = torch.arange(10).float()[:, None], torch.arange(10)
    loader = DeviceLoader(x, y, batch_size=3, seed=0)
    assert len(loader) == 4
    epochs = [torch.cat([b[1] for b in loader]) for _ in range(2)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(10))
    assert not torch.equal(epochs[0], epochs[1])


def test_seed_fixes_the_sequence_and_batches_stay_aligned():
    x = torch.randn(50, 4)
    y = torch.arange(50)
    a = [b for b in DeviceLoader(x, y, batch_size=8, seed=5)]
    b = [b for b in DeviceLoader(x, y, batch_size=8, seed=5)]
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(ya, yb) and torch.equal(xa, x[ya])


def test_drop_last_no_shuffle_and_return_index():
    d = load_dataset("digits")
    loader = DeviceLoader(d, batch_size=100, shuffle=False, drop_last=True, return_index=True)
    assert len(loader) == len(d) // 100
    xb, yb, idx = next(iter(loader))
    assert torch.equal(idx, torch.arange(100)) and torch.equal(yb, d.y[:100])
    assert all(len(batch[0]) == 100 for batch in loader)


@pytest.mark.parametrize("kwargs,msg", [
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=2.5), "batch_size"),
])
def test_bad_batch_size(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        DeviceLoader(torch.zeros(4), **kwargs)


def test_bad_tensors():
    with pytest.raises(ValueError, match="different lengths"):
        DeviceLoader(torch.zeros(4), torch.zeros(5), batch_size=2)
    with pytest.raises(ValueError, match="empty"):
        DeviceLoader(torch.zeros(0), batch_size=2)
    with pytest.raises(ValueError, match="at least one"):
        DeviceLoader(batch_size=2)
