"""Public registries: a model or a CLL loss registered by name is built, listed and trained like a
built-in one; names are checked; the old factory names still work."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import labkit
from labkit import DeviceLoader, build_model, fit, from_arrays, list_models, register_model
from labkit import models as models_module
from labkit.cll import (CLLMethod, CLLObjective, build_method, list_methods, make_method, register_method,
                        transition_matrix)
from labkit.cll import methods as methods_module


@pytest.fixture
def registries():
    """Let a test register entries; remove them afterwards so that no other test sees them."""
    saved = dict(models_module._REGISTRY), dict(methods_module._REGISTRY)
    yield
    for registry, before in zip((models_module._REGISTRY, methods_module._REGISTRY), saved):
        registry.clear()
        registry.update(before)


def _tiny_mlp(in_shape, num_classes, hidden: int = 8):
    body = nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(in_shape).prod()), hidden), nn.Tanh())
    return models_module.Classifier(body, hidden, num_classes)


class NegativeLearning(CLLMethod):
    """SCL-NL written again: ℓ(x, c) = −log(1 − s_c)."""

    def per_label_loss(self, z):
        return -torch.log1p(-z.softmax(1).clamp(max=1 - 1e-6))


def test_registered_model_is_built_listed_and_trained(registries):
    register_model("tiny-mlp", _tiny_mlp)
    assert list_models()[-1] == "tiny-mlp" and "tiny-mlp" in labkit.list_models()
    model = build_model("tiny-mlp", (2, 2), 3, hidden=5)
    assert model(torch.randn(4, 2, 2)).shape == (4, 3) and model.features(torch.randn(4, 2, 2)).shape == (4, 5)
    data = from_arrays(torch.randn(16, 4), torch.arange(16) % 3)
    h = fit(build_model("tiny-mlp", (4,), 3), DeviceLoader(data, batch_size=8, seed=0),
            lambda m, b: F.cross_entropy(m(b[0]), b[1]), epochs=1, lr=0.1, progress=False)
    assert len(h) == 1
    with pytest.raises(ValueError, match="does not take"):
        build_model("tiny-mlp", (4,), 3, depth=2)


def test_registered_method_is_built_listed_and_trained(registries):
    register_method("nl-again", NegativeLearning)
    assert list_methods()[-1] == "nl-again" and "nl-again" in labkit.list_methods()
    k, z = 4, torch.randn(6, 4)
    cl = torch.tensor([0, 1, 2, 3, 0, 1])
    mine = build_method("nl-again", k)
    assert mine.name == "nl-again"
    torch.testing.assert_close(mine.loss(z, cl), build_method("scl-nl", k).loss(z, cl))
    assert make_method("nl-again", k).name == "nl-again"  # the old name reaches the same registry
    data = from_arrays(torch.randn(16, 3), torch.arange(16) % k)
    h = fit(build_model("linear", (3,), k), DeviceLoader(data.x, cl.repeat(3)[:16], batch_size=8, seed=0),
            CLLObjective(mine), epochs=1, lr=0.1, progress=False)
    assert torch.isfinite(torch.tensor(h.last["loss"]))


def test_a_builder_function_gets_q_prior_and_options(registries):
    seen = {}

    def builder(num_classes, Q, class_prior, *, scale: float = 1.0):
        seen.update(Q=Q, scale=scale)
        return NegativeLearning(num_classes, Q, class_prior)

    register_method("nl-builder", builder)
    q = transition_matrix("uniform", 3)
    build_method("nl-builder", 3, Q=q, scale=2.0)
    assert seen["Q"] is q and seen["scale"] == 2.0
    with pytest.raises(ValueError, match="does not take"):
        build_method("nl-builder", 3, temperature=2.0)
    register_method("not-a-method", lambda k, Q, p: nn.Linear(k, k))
    with pytest.raises(ValueError, match="not a CLLMethod"):
        build_method("not-a-method", 3)


@pytest.mark.parametrize("register", [register_model, register_method])
def test_names_and_builders_are_checked(registries, register):
    taken = "mlp" if register is register_model else "pc"
    for bad in ("Tiny", "tiny_mlp", "tiny mlp", "", "-x", 7):
        with pytest.raises(ValueError, match="lower-case letters and digits joined by hyphens"):
            register(bad, _tiny_mlp)
    with pytest.raises(ValueError, match="already registered; pass overwrite=True"):
        register(taken, _tiny_mlp)
    with pytest.raises(ValueError, match="callable"):
        register("fine-name", 42)
    before = len(list_models()) + len(list_methods())
    register(taken, _tiny_mlp, overwrite=True)  # replaces, does not add
    assert len(list_models()) + len(list_methods()) == before


def test_fixture_left_no_entry_behind():
    assert "tiny-mlp" not in list_models() and "nl-again" not in list_methods()
    assert list_models() == ["linear", "mlp", "cnn", "resnet18", "resnet32"]


def test_every_listed_method_builds_and_predicts():
    k, z = 4, torch.randn(5, 4)
    for name in list_methods():
        m = build_method(name, k, Q=transition_matrix("uniform", k))
        assert m.predict(z).shape == (5,)


def test_old_factory_names_are_aliases():
    import importlib

    from labkit import clip, mix
    from labkit.clip import encoders
    from labkit.mix import icm

    smote = importlib.import_module("labkit.mix.smote")  # labkit.mix.smote the attribute is the function

    assert make_method is build_method and methods_module.make_method is build_method
    assert clip.vision_encoder is clip.build_vision_encoder is encoders.vision_encoder
    assert clip.text_encoder is clip.build_text_encoder is encoders.text_encoder
    assert mix.make_cll_augment is mix.build_cll_augment is icm.make_cll_augment
    assert mix.nearest_neighbors is mix.knn_indices is smote.nearest_neighbors
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    assert mix.knn_indices(x, x, 1, exclude=torch.arange(4)).flatten().tolist() == [1, 0, 1, 2]
    with pytest.raises(ValueError, match="k must be"):
        mix.knn_indices(x, x, 0)
