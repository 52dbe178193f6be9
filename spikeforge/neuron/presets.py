"""The papers' neurons, stated once.

A preset is a complete ``neuron:`` mapping (the form a YAML config and
:func:`spikeforge.neuron.factory.build_neuron` take) with the source of every value.
Models, configs (``tools/make_configs.py``), the analyses and the reproduction study take
their neurons from here, so a paper's neuron cannot drift between files.

=====================  =========================================================  ======================================
name                   neuron                                                     source
=====================  =========================================================  ======================================
``tet_legacy_lif``     LIF ``U = 0.25 U + I`` (``tau=4/3``, no input decay),      Shen et al. legacy TET VGG-11 48x48
                       threshold 1, hard reset to 0 (not detached), ZIF gamma 1   (``LIFSpike``, decay factor 0.25)
``mmpretrain_lif``     SpikingJelly LIF ``tau=2``, soft reset, detached reset,    Shen et al. VGG-11 128x128
                       Sigmoid(alpha=4)                                           (mmpretrain ``neuron_cfg``)
``sew_if_cifar``       IF, soft reset, ATan(alpha=2)                              Shen et al. SEW-ResNet CIFAR configs
``sew_if_imagenet``    IF, hard reset to 0 (not detached), ATan(alpha=2)          Shen et al. ImageNet (SpikingJelly
                                                                                  ``IFNode`` defaults)
``slayer_cuba``        CUBA LIF, retained current 0.75 / voltage 0.97, fixed      Rouser's baseline (SLAYER, Table II)
                       threshold 1.25, hard reset to 0, reset detached,
                       exponential surrogate (scale 1.5, tau 3.75)
``rouser_cuba``        ``slayer_cuba`` with a learnable per-neuron threshold      Rouser (Table II, eqs. 1-5)
                       initialised at 1.25
``embedded_lif``       LIF ``tau=2``, soft reset, ATan(alpha=2)                   SpikeForge's small embedded nets
=====================  =========================================================  ======================================

Why the CUBA presets detach the reset: Rouser is built on SLAYER (Lava-DL), whose
backward pass does not differentiate through the reset. With the exponential surrogate
(non-zero everywhere) the un-detached hard reset has ``dV[t]/dH[t] = 1 - S - H * g(H - Th)``,
larger than 1 wherever ``H < 0``, so the gradient grows geometrically over the papers'
T = 100-300 steps (docs/design-choices.md gives the derivation and measured norms).

Example::

    from spikeforge.neuron import neuron_preset
    from spikeforge.neuron.factory import build_neuron

    node = build_neuron(neuron_preset("rouser_cuba"), feature_shape=(500,))
    fixed = neuron_preset("slayer_cuba", v_threshold=0.25)   # overrides replace keys
"""

from __future__ import annotations

import copy
import dataclasses
import types
from collections.abc import Mapping
from typing import Any

__all__ = [
    "PRESETS",
    "ROUSER_ALPHA_I",
    "ROUSER_ALPHA_V",
    "ROUSER_DETACH_RESET",
    "ROUSER_SURROGATE",
    "ROUSER_THRESHOLD",
    "NeuronPreset",
    "neuron_preset",
    "preset_names",
]

# Rouser Table II (Takaghaj & Sampson): retained fractions of the synaptic current and the
# membrane potential per step (SLAYER's current_decay 0.25 / voltage_decay 0.03), the initial
# (or fixed) threshold, the exponential surrogate g(u) = (s / tau) exp(-|u| / tau).
ROUSER_ALPHA_I = 0.75
ROUSER_ALPHA_V = 0.97
ROUSER_THRESHOLD = 1.25
ROUSER_SURROGATE: Mapping[str, Any] = types.MappingProxyType({"name": "exponential", "scale": 1.5, "tau": 3.75})
# SLAYER semantics: the reset is not differentiated (see the module docstring).
ROUSER_DETACH_RESET = True


@dataclasses.dataclass(frozen=True)
class NeuronPreset:
    """One paper's neuron.

    Attributes:
        name: registry name.
        neuron: the ``neuron:`` mapping (read-only; :func:`neuron_preset` returns a copy).
        source: where the values come from.
    """

    name: str
    neuron: Mapping[str, Any]
    source: str


def _preset(name: str, source: str, **neuron: Any) -> NeuronPreset:
    return NeuronPreset(name, types.MappingProxyType(neuron), source)


_SLAYER_CUBA: dict[str, Any] = {
    "type": "cuba",
    "alpha_i": ROUSER_ALPHA_I,
    "alpha_v": ROUSER_ALPHA_V,
    "v_reset": 0.0,
    "v_threshold": ROUSER_THRESHOLD,
    "detach_reset": ROUSER_DETACH_RESET,
    "surrogate": dict(ROUSER_SURROGATE),
}

# One entry per paper neuron, each stated in full: the entries are alike in shape (the same keys, in the same
# order) by design, so that a preset reads alone, with its source, and none moves when another is corrected.
PRESETS: Mapping[str, NeuronPreset] = types.MappingProxyType(
    {
        p.name: p
        for p in (
            _preset(
                "tet_legacy_lif",
                "Shen et al. 2024, legacy TET VGG-11 48x48 (amazing-cls vgg_legacy.py LIFSpike): mem = 0.25 * mem + x, "
                "spike when mem > 1, mem *= 1 - spike (hard reset, not detached), ZIF surrogate gamma 1",
                type="lif",
                tau=4.0 / 3.0,  # 1 - 1/tau = 0.25, the legacy decay factor
                decay_input=False,
                v_reset=0.0,
                v_threshold=1.0,
                detach_reset=False,
                surrogate={"name": "triangle", "gamma": 1.0},
            ),
            _preset(
                "mmpretrain_lif",
                "Shen et al. 2024, VGG-11 128x128 configs: SpikingJelly LIFNode (tau 2, threshold 1), v_reset=None "
                "(soft reset), detach_reset=True, Sigmoid surrogate (alpha 4)",
                type="lif",
                tau=2.0,
                v_reset=None,
                detach_reset=True,
                surrogate={"name": "sigmoid", "alpha": 4.0},
            ),
            _preset(
                "sew_if_cifar",
                "Shen et al. 2024, SEW-ResNet CIFAR configs: SpikingJelly IFNode, v_reset=None (soft reset), ATan",
                type="if",
                v_reset=None,
                detach_reset=False,
                surrogate={"name": "atan", "alpha": 2.0},
            ),
            _preset(
                "sew_if_imagenet",
                "Shen et al. 2024, ImageNet-100 / ImageNet-1k: SpikingJelly IFNode defaults (hard reset to 0, "
                "detach_reset=False), ATan",
                type="if",
                v_reset=0.0,
                detach_reset=False,
                surrogate={"name": "atan", "alpha": 2.0},
            ),
            _preset(
                "slayer_cuba",
                "Rouser Table II baseline (SLAYER CUBA, fixed threshold): retained current 0.75, voltage 0.97, "
                "threshold 1.25, reset to 0, exponential surrogate s=1.5 tau=3.75; reset detached as in SLAYER",
                **_SLAYER_CUBA,
            ),
            _preset(
                "rouser_cuba",
                "Rouser Table II / eqs. 1-5: the SLAYER CUBA neuron with a learnable per-neuron threshold (init 1.25)",
                **{**_SLAYER_CUBA, "v_threshold": "learn", "v_threshold_init": ROUSER_THRESHOLD},
            ),
            _preset(
                "embedded_lif",
                "SpikeForge's small nets on embedded data (not a paper's): LIF tau 2, soft reset, ATan",
                type="lif",
                tau=2.0,
                v_reset=None,
                surrogate={"name": "atan", "alpha": 2.0},
            ),
        )
    }
)


def preset_names() -> list[str]:
    """The names of the presets, sorted."""
    return sorted(PRESETS)


def neuron_preset(name: str, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of preset ``name``'s ``neuron:`` mapping, with ``overrides`` replacing keys.

    Raises:
        ValueError: unknown name (the message lists the presets).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown neuron preset {name!r}; choose one of {preset_names()}")
    out = copy.deepcopy(dict(PRESETS[name].neuron))
    out.update(copy.deepcopy(overrides))
    return out
