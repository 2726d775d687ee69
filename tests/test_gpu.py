"""GPU paths: run only where CUDA exists (benchmarks/gpu.sh runs the whole suite on CUDA too)."""
import pytest
import torch
import torch.nn.functional as F

import labkit
from labkit.data import DeviceLoader, load_dataset

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
def test_device_loader_same_order_on_cpu_and_cuda():
    x, y = torch.randn(100, 3), torch.arange(100)
    cpu = [b[1] for b in DeviceLoader(x, y, batch_size=16, seed=3, device="cpu")]
    gpu = [b[1].cpu() for b in DeviceLoader(x, y, batch_size=16, seed=3, device="cuda")]
    assert all(torch.equal(a, b) for a, b in zip(cpu, gpu))
    assert next(iter(DeviceLoader(x, y, batch_size=16, device="cuda")))[0].is_cuda


@cuda
def test_fit_and_evaluate_on_cuda_with_autocast():
    train, test = load_dataset("digits"), load_dataset("digits", "test")
    labkit.set_seed(0)
    model = labkit.build_model("cnn", train.in_shape, 10)
    history = labkit.fit(model, DeviceLoader(train, batch_size=64, seed=0, device="cuda"),
                         lambda m, b: F.cross_entropy(m(b[0]), b[1]), epochs=3, lr=2e-3, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    on_gpu = labkit.evaluate(model, test, device="cuda")["accuracy"]
    assert on_gpu > 0.8
