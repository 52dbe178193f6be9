"""The neuron-kind registry: named parameters, their one mapping to the kernel constants, a kind added from outside."""

from typing import NamedTuple

import pytest
import torch

from spikeforge.errors import UserError
from spikeforge.neuron import NEURON_KINDS, BaseNode, Dynamics, build_neuron, multistep, register_neuron_kind
from spikeforge.neuron.factory import NEURON_TYPES
from spikeforge.neuron.kind_spec import NeuronKind
from spikeforge.neuron.kinds.cuba import CUBAParams
from spikeforge.neuron.kinds.lif import LIFParams
from spikeforge.neuron.reference import leak_factor


def test_the_built_in_kinds_are_found_and_named():
    assert {"if", "lif", "cuba", "plif"} <= set(NEURON_KINDS.names())
    assert {name: cls.__name__ for name, cls in NEURON_TYPES.items()}.items() >= {
        "if": "IFNode",
        "lif": "LIFNode",
        "cuba": "CUBALIFNode",
        "plif": "PLIFNode",
    }.items()
    assert NEURON_KINDS.get("cuba").has_current and not NEURON_KINDS.get("lif").has_current
    assert NEURON_KINDS.get("plif").fused is None
    assert NEURON_KINDS.get("lif").fused_backends() == {"cpu", "triton"}


def test_dynamics_take_the_kinds_named_parameters():
    dyn = Dynamics("lif", tau=3.0, decay_input=False)
    assert dyn.params == LIFParams(tau=3.0, decay_input=False) and dyn.tau == 3.0
    assert Dynamics("cuba").params == CUBAParams(0.75, 0.97)
    assert Dynamics("if", tau=3.7, alpha_i=0.3).params == ()  # the former flat fields are still accepted
    with pytest.raises(TypeError, match=r"neuron kind 'if' has no parameter \['gamma'\]"):
        Dynamics("if", gamma=1.0)
    with pytest.raises(UserError, match=r"unknown neuron type 'lfi'; choose one of \['cuba', 'if', 'lif'"):
        Dynamics("lfi")
    with pytest.raises(TypeError, match=r"by name or as one LIFParams, got 2\.0"):
        Dynamics("lif", 2.0)  # the former positional tau
    with pytest.raises(AttributeError, match="kind 'if' has no 'tau'"):
        _ = Dynamics("if").tau


def test_kernel_constants_are_built_from_named_parameters():
    from spikeforge.neuron.ops.spec import KERNEL_CONSTANTS, KERNEL_STEPS, KernelSpec, kernel_spec, state_constants

    lif = kernel_spec(Dynamics("lif", tau=3.7, decay_input=False, v_reset=-0.3))
    assert lif.kind == KERNEL_STEPS["lif"] and lif.tau == 3.7 and lif.v_rest == -0.3 and lif.v_reset == -0.3
    assert kernel_spec(Dynamics("lif", tau=3.7)).kind == KERNEL_STEPS["lif_decay_input"]
    cuba = kernel_spec(Dynamics("cuba", alpha_i=0.3, alpha_v=0.6, v_reset=None))
    assert (cuba.kind, cuba.alpha_i, cuba.alpha_v, cuba.v_rest, cuba.soft) == (
        KERNEL_STEPS["cuba"],
        0.3,
        0.6,
        0.0,
        True,
    )
    assert list(KERNEL_CONSTANTS) == ["tau", "alpha_i", "alpha_v", "v_rest", "v_reset", "c0", "c1"]
    assert cuba.consts[1:3] == [0.3, 0.6]
    assert KernelSpec.from_op_args(cuba.kind, cuba.soft, cuba.detach, cuba.surrogate, cuba.consts) == cuba
    assert state_constants(lif.consts, torch.float32)[0] == leak_factor(3.7, torch.float32)


class LeakyIntegratorParams(NamedTuple):
    gain: float = 0.5


def _gain_charge(p, v, i, x, v_rest):
    return v + p.gain * x, None


class GainIFNode(BaseNode):
    kind = "gain_if"

    def __init__(self, gain: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.gain = gain

    def kind_params(self):
        return LeakyIntegratorParams(self.gain)


@pytest.fixture
def gain_kind():
    kind = register_neuron_kind(NeuronKind("gain_if", LeakyIntegratorParams, _gain_charge, GainIFNode))
    yield kind
    NEURON_KINDS.remove("gain_if")


def test_a_kind_registered_from_outside_builds_and_runs_on_the_reference(gain_kind):
    node = build_neuron({"type": "gain_if", "gain": 0.25, "v_threshold": 1.0})
    assert isinstance(node, GainIFNode)
    x = torch.tensor([2.0, 2.0, 2.0]).view(3, 1, 1)
    # H = V + X / 4: 0.5, 1.0 (spike, hard reset to 0), 0.5
    assert node(x).flatten().tolist() == [0.0, 1.0, 0.0]
    out = multistep(x, Dynamics("gain_if", gain=0.25), 1.0, 0.0, record_v=True)
    assert out.v_seq.flatten().tolist() == [0.5, 0.0, 0.5] and out.i is None
    with pytest.raises(ValueError, match="neuron type 'gain_if' is already registered"):
        register_neuron_kind(gain_kind)
    with pytest.raises(ValueError, match="neuron kind 'gain_if' has no fused 'cpu' kernel"):
        GainIFNode(backend="cpu")
