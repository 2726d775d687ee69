"""labkit._validation: every check accepts good values (numpy scalars too) and rejects bools, NaN,
infinities and out-of-range values with a message that names the argument and what was given."""
import math

import numpy as np
import pytest
import torch

from labkit import _validation as v

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("check,good,bad", [
    (lambda x: v.integer(x, "steps"), [0, -3, np.int64(7), np.int32(2)], [True, 1.0, 2.5, "3", None, NAN]),
    (lambda x: v.integer(x, "steps", low=2, high=5), [2, 5, np.int16(3)], [1, 6, False]),
    (lambda x: v.positive_int(x, "steps"), [1, 10**12, np.uint8(3)], [0, -1, True, 1.0, NAN, INF]),
    (lambda x: v.non_negative_int(x, "steps"), [0, np.int64(0), 4], [-1, False, 0.0, INF]),
    (lambda x: v.number(x, "steps"), [0, -2.5, np.float32(1.5), np.int64(3)], [True, NAN, INF, -INF, "1", None]),
    (lambda x: v.positive(x, "steps"), [1e-9, 3, np.float64(0.5)], [0, -1.0, NAN, INF, True]),
    (lambda x: v.non_negative(x, "steps"), [0, 0.0, np.float16(2)], [-1e-9, NAN, INF, False]),
    (lambda x: v.probability(x, "steps"), [0, 1, 0.5, np.float32(0.25)], [-0.1, 1.01, NAN, INF, True]),
    (lambda x: v.open_fraction(x, "steps"), [0.01, 0.99, np.float64(0.5)], [0, 1, 0.0, NAN, True]),
])
def test_numeric_checks(check, good, bad):
    for value in good:
        out = check(value)
        assert out == value and type(out) in (int, float)  # numpy scalars come back as Python numbers
    for value in bad:
        with pytest.raises(ValueError, match=r"^steps must be .*, got "):
            check(value)


def test_messages_say_what_is_allowed_and_what_was_given():
    with pytest.raises(ValueError, match=r"^epochs must be an integer >= 1, got 0$"):
        v.positive_int(0, "epochs")
    with pytest.raises(ValueError, match=r"^k must be an integer in 1\.\.5 \(at most N\), got 9$"):
        v.integer(9, "k", low=1, high=5, note="at most N")
    with pytest.raises(ValueError, match=r"^p must be a finite number in \[0, 1\], got nan$"):
        v.probability(NAN, "p")
    with pytest.raises(ValueError, match=r"^beta must be a finite number in \[0, 1\), got 1$"):
        v.number(1, "beta", low=0, high=1, high_open=True)
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, got True$"):
        v.positive(True, "lr")
    assert v.number(INF, "kappa", low=1, finite=False) == INF
    with pytest.raises(ValueError, match="kappa"):
        v.number(NAN, "kappa", low=1, finite=False)  # NaN is never a number here


def test_boolean_and_one_of():
    assert v.boolean(True, "amp") is True and v.boolean(np.bool_(False), "amp") is False
    for bad in (1, 0, "yes", None):
        with pytest.raises(ValueError, match="amp must be True or False"):
            v.boolean(bad, "amp")
    assert v.one_of("sgd", "optimizer", ("adam", "sgd")) == "sgd"
    with pytest.raises(ValueError, match=r"optimizer must be one of adam, sgd, got 'rmsprop'"):
        v.one_of("rmsprop", "optimizer", ("adam", "sgd"))
    with pytest.raises(ValueError, match="optimizer"):
        v.one_of(["adam"], "optimizer", ("adam", "sgd"))  # unhashable: not found, no TypeError


def test_finite_tensor_counts_bad_entries():
    x = torch.tensor([1.0, NAN, INF, -INF])
    with pytest.raises(ValueError, match=r"x must be finite: 1 NaN and 2 infinite entries of 4"):
        v.finite_tensor(x, "x")
    with pytest.raises(ValueError, match="x must be finite"):
        v.finite_tensor(np.array([0.0, np.nan]), "x")
    ok = torch.arange(3)
    assert v.finite_tensor(ok, "x") is ok


def test_check_seeds():
    assert v.check_seeds(3) == (3,)
    assert v.check_seeds(range(3)) == (0, 1, 2)
    assert v.check_seeds([np.int64(4), 5]) == (4, 5)
    for bad in ([], "12", [1, True], [1.0], None):
        with pytest.raises(ValueError, match="seeds must be a non-empty sequence of integers"):
            v.check_seeds(bad)
    with pytest.raises(ValueError, match=r"seeds must be distinct .* got \[1\] more than once"):
        v.check_seeds([1, 2, 1])


def test_function_and_registry_name():
    assert v.function(len, "builder") is len
    with pytest.raises(ValueError, match="builder must be callable"):
        v.function(3, "builder")
    registry = {"mlp": None}
    assert v.registry_name("my-mlp2", "model", registry) == "my-mlp2"
    for bad in ("My-mlp", "my_mlp", "my mlp", "-mlp", "mlp-", "my--mlp", "", 3, None):
        with pytest.raises(ValueError, match="a model name must be lower-case letters and digits joined by hyphens"):
            v.registry_name(bad, "model", registry)
    with pytest.raises(ValueError, match=r"model 'mlp' is already registered; pass overwrite=True"):
        v.registry_name("mlp", "model", registry)
    assert v.registry_name("mlp", "model", registry, overwrite=True) == "mlp"


def test_public_functions_use_the_checks():
    """A few representative callers: numpy scalars accepted, bools and NaN refused by name."""
    from labkit.data import long_tail_counts
    from labkit.mix import expected_cluster_noise, random_partners, sample_lambda

    assert len(random_partners(np.int64(4), seed=0)) == 4
    assert long_tail_counts(np.int64(100), 10, np.float32(10.0))[0] == 100
    assert math.isclose(expected_cluster_noise(np.float64(1.0), 10), 0.0)
    with pytest.raises(ValueError, match="^n must be"):
        random_partners(True)
    with pytest.raises(ValueError, match="^alpha must be"):
        sample_lambda(NAN)
    with pytest.raises(ValueError, match="^purity must be"):
        expected_cluster_noise(NAN, 10)
