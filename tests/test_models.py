import pytest
import torch

from labkit import build_model, list_models


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_logits_and_features(name, shape):
    torch.manual_seed(0)
    model = build_model(name, shape, 7).eval()
    x = torch.randn(3, *shape)
    feats = model.features(x)
    assert model(x).shape == (3, 7)
    assert feats.shape == (3, model.feature_dim)
    assert torch.allclose(model(x), model.head(feats), atol=1e-5)


def test_flat_inputs_for_linear_and_mlp():
    assert build_model("mlp", (2,), 3, hidden=16, depth=3)(torch.randn(5, 2)).shape == (5, 3)
    with pytest.raises(ValueError, match="images"):
        build_model("cnn", (2,), 3)


def test_bad_names_and_options():
    assert list_models() == ["linear", "mlp", "cnn", "resnet18", "resnet32"]
    with pytest.raises(ValueError, match="linear, mlp"):
        build_model("vgg", (1, 8, 8), 10)
    with pytest.raises(ValueError, match="does not take"):
        build_model("cnn", (1, 8, 8), 10, depth=4)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("mlp", (4,), 1)
