"""Each surrogate: Heaviside forward, analytic backward, printable and YAML-buildable."""

import math

import pytest
import torch

from spikeforge.neuron.surrogate import ATan, Exponential, Rectangle, Sigmoid, Triangle, get_surrogate

U = torch.tensor([-3.0, -1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0, 3.0], dtype=torch.float64)


def analytic(sur, u: float) -> float:
    if isinstance(sur, ATan):
        return sur.alpha / 2 / (1 + (math.pi / 2 * sur.alpha * u) ** 2)
    if isinstance(sur, Sigmoid):
        s = 1 / (1 + math.exp(-sur.alpha * u))
        return sur.alpha * s * (1 - s)
    if isinstance(sur, Triangle):
        return max(0.0, sur.gamma - abs(u)) / sur.gamma**2
    if isinstance(sur, Rectangle):
        return 1 / sur.width if abs(u) < sur.width / 2 else 0.0
    if isinstance(sur, Exponential):
        return sur.scale / sur.tau * math.exp(-abs(u) / sur.tau)
    raise TypeError(sur)


SURS = [
    ATan(),
    ATan(alpha=5.0),
    Sigmoid(),
    Sigmoid(alpha=2.0),
    Triangle(),
    Triangle(gamma=0.5),
    Rectangle(),
    Rectangle(width=0.4),
    Exponential(),
    Exponential(scale=3.0, tau=3.0),
]


@pytest.mark.parametrize("sur", SURS, ids=repr)
def test_forward_is_heaviside_and_backward_is_analytic(sur):
    u = U.clone().requires_grad_()
    s = sur(u)
    assert s.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    s.backward(torch.ones_like(s))
    expected = torch.tensor([analytic(sur, v) for v in U.tolist()], dtype=torch.float64)
    torch.testing.assert_close(u.grad, expected)


def test_default_parameters_match_the_papers():
    assert ATan().alpha == 2.0 and Sigmoid().alpha == 4.0 and Triangle().gamma == 1.0
    assert Exponential().scale == 1.5 and Exponential().tau == 3.75


def test_build_from_name_mapping_and_round_trip():
    assert get_surrogate("atan") == ATan()
    assert get_surrogate("ZIF") == Triangle()
    assert get_surrogate({"name": "sigmoid", "alpha": 2}) == Sigmoid(alpha=2.0)
    sur = Exponential(scale=3.0, tau=3.0)
    assert get_surrogate(sur.to_config()) == sur
    assert repr(sur) == "Exponential(scale=3.0, tau=3.0)"
    assert get_surrogate(None) == ATan()


@pytest.mark.parametrize(
    ("spec", "msg"),
    [
        ("arctan", "unknown surrogate"),
        ({"alpha": 2}, "needs a 'name'"),
        ({"name": "atan", "beta": 1}, "beta"),
        (3, "surrogate must be"),
    ],
)
def test_bad_specs_raise(spec, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        get_surrogate(spec)
