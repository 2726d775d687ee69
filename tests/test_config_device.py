import contextlib

import pytest
import torch

from labkit import config, device


def test_quick_follows_environment(monkeypatch):
    monkeypatch.setenv("LABKIT_QUICK", "1")
    assert config.QUICK is True and config.pick(50, 5) == 5
    monkeypatch.setenv("LABKIT_QUICK", "0")
    assert config.QUICK is False and config.pick(50, 5) == 50
    monkeypatch.delenv("LABKIT_QUICK")
    assert config.is_quick() is False


def test_test_configuration_sets_quick_mode():
    # pyproject's [tool.pytest_env] sets LABKIT_QUICK=1 for plain `pytest`
    assert config.QUICK is True


def test_data_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "store"))
    path = config.data_dir()
    assert path == tmp_path / "store" and path.is_dir()


def test_data_dir_in_checkout_is_git_ignored_cache(monkeypatch):
    monkeypatch.delenv("LABKIT_DATA", raising=False)
    path = config.data_dir()
    assert path.name == "cache" and path.parent.name == "data"


def test_get_device_prefer_env_and_errors(monkeypatch):
    assert device.get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("LABKIT_DEVICE", "cpu")
    assert device.get_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        device.get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            device.get_device("cuda")


def test_set_seed_reproduces_torch_numpy_python():
    import random

    import numpy as np

    device.set_seed(123)
    a = (torch.rand(3), np.random.rand(3), random.random())
    device.set_seed(123)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and (a[1] == b[1]).all() and a[2] == b[2]
    with pytest.raises(ValueError):
        device.set_seed(1.5)


def test_make_generator_is_seeded():
    g1, g2 = device.make_generator(7), device.make_generator(7)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))


def test_autocast_is_a_no_op_on_cpu():
    ctx = device.autocast("cpu")
    assert isinstance(ctx, contextlib.nullcontext)
    with ctx:
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.float32


def test_data_dir_pointing_at_a_file_says_so(tmp_path, monkeypatch):
    from labkit.config import data_dir

    target = tmp_path / "not-a-folder"
    target.write_text("x")
    monkeypatch.setenv("LABKIT_DATA", str(target))
    with pytest.raises(NotADirectoryError, match="LABKIT_DATA must be a folder"):
        data_dir()
