"""Spiking neuron modules: ``IFNode``, ``LIFNode``, ``CUBALIFNode``.

All are multi-step: ``forward(x)`` takes ``[T, B, *features]`` and returns spikes of the
same shape, running the T steps in one call. State is *not* carried over between calls
(every batch starts from the initial membrane potential) unless ``stateful=True``.

Learnable neuron parameters
---------------------------
``imp="learn"`` makes the initial membrane potential ``V[-1]`` an ``nn.Parameter`` named
``imp``; ``v_threshold="learn"`` makes the threshold an ``nn.Parameter`` named
``v_threshold``. Their *sharing* says which elements share one value:

* ``"neuron"``: one value per feature element, shared over the batch (shape ``features``);
* ``"channel"``: one value per channel, the first feature dim (shape ``(C, 1, ..., 1)``);
* ``"layer"``: one scalar.

Per-neuron and per-channel shapes are known only from the input. Either pass
``feature_shape=(C, H, W)`` at construction, or call :func:`spikeforge.materialize`
with a sample input before building the optimiser or wrapping in DDP. Until then the
parameters are ``torch.nn.UninitializedParameter``s; loading a state dict materialises
them from the stored shapes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, TypeGuard, cast

import torch
from torch import nn

from ..errors import SpikeForgeError
from ..timelayout import check_time_steps
from . import backends, presets
from .init import Init, fill_, parse_init
from .reference import Dynamics, NeuronKind, state_dtype
from .surrogate import Exponential, Surrogate, get_surrogate

__all__ = ["BaseNode", "CUBALIFNode", "IFNode", "LIFNode", "NeuronParameterError", "is_neuron", "materialize"]

Sharing = Literal["neuron", "channel", "layer"]
SHARINGS = ("neuron", "channel", "layer")
LEARN = "learn"


class NeuronParameterError(SpikeForgeError, RuntimeError):
    """A lazily shaped neuron parameter was used before it was created, or with the wrong shape."""


def _param_shape(sharing: str, features: Sequence[int]) -> tuple[int, ...]:
    if sharing == "neuron":
        return tuple(features)
    if sharing == "channel":
        if len(features) == 0:
            return ()
        return (features[0],) + (1,) * (len(features) - 1)
    return ()


class BaseNode(nn.Module):
    """Common machinery for the multi-step neurons (see the module docstring).

    Args:
        v_threshold: a fixed threshold, or ``"learn"`` for a learnable one.
        v_reset: hard-reset potential, or ``None`` for a soft reset (``V -= theta * S``).
        surrogate: a :class:`Surrogate`, a name or a mapping (see ``get_surrogate``).
        detach_reset: detach the spike inside the reset term.
        imp: initial membrane potential ``V[-1]``: ``None`` (``v_reset``, or 0 for a soft
            reset), a float, or ``"learn"``.
        imp_init: distribution of a learnable IMP (default U(-0.2, 0.2), as the official code).
        imp_sharing: ``"neuron"`` | ``"channel"`` | ``"layer"``.
        v_threshold_init: initial value of a learnable threshold (default: the class's
            fixed default threshold).
        threshold_sharing: sharing of a learnable threshold (default per neuron).
        threshold_min: optional floor applied to a learnable threshold in the forward pass
            (not in the papers; a safety option against negative thresholds).
        feature_shape: the per-sample feature shape; creates lazily shaped parameters now.
        stateful: carry ``V`` (and ``I``) over between calls (detached); reset with
            :meth:`reset_state`.
        record_v: keep the last call's membrane trace ``[T, B, ...]`` in ``v_seq``.
        backend: ``"auto"`` (default: the fused kernel for the device and dtype when it builds, else the
            reference, saying which in one log line), ``"torch"`` (the reference), ``"cpu"`` or ``"triton"``.
        fire_at_threshold: ``True`` (default, as SpikingJelly): spike when ``H >= theta``; ``False``:
            only when ``H > theta``, NIR's definition and snnTorch's and Norse's (used for graphs
            imported from them). Hard reset only; see :meth:`spike_threshold` for how it is exact.
    """

    default_threshold: float = 1.0
    default_surrogate: Surrogate | str = "atan"
    #: expected number of time steps; when set, an input with another ``x.shape[0]`` fails
    #: (see :func:`spikeforge.set_time_steps`). ``None`` accepts any ``T``.
    T: int | None = None

    def __init__(
        self,
        *,
        v_threshold: float | str = 1.0,
        v_reset: float | None = 0.0,
        surrogate: Surrogate | str | dict[str, Any] | None = None,
        detach_reset: bool = False,
        imp: float | str | None = None,
        imp_init: Init = "uniform(-0.2, 0.2)",
        imp_sharing: Sharing = "neuron",
        v_threshold_init: float | None = None,
        threshold_sharing: Sharing = "neuron",
        threshold_min: float | None = None,
        feature_shape: Sequence[int] | None = None,
        stateful: bool = False,
        record_v: bool = False,
        backend: str = "auto",
        fire_at_threshold: bool = True,
    ) -> None:
        super().__init__()
        if not fire_at_threshold and v_reset is None:
            raise ValueError(
                "fire_at_threshold=False needs a hard reset (v_reset a number): a soft reset subtracts the threshold, "
                "which the strict spike condition must not change"
            )
        self.fire_at_threshold = bool(fire_at_threshold)
        for what, sharing in (("imp_sharing", imp_sharing), ("threshold_sharing", threshold_sharing)):
            if sharing not in SHARINGS:
                raise ValueError(f"{what} must be one of {SHARINGS}, got {sharing!r}")
        self.v_reset = None if v_reset is None else float(v_reset)
        self.surrogate = get_surrogate(surrogate if surrogate is not None else self.default_surrogate)
        self.detach_reset = bool(detach_reset)
        self.imp_sharing = imp_sharing
        self.threshold_sharing = threshold_sharing
        self.threshold_min = threshold_min
        self.stateful = stateful
        self.record_v = record_v
        backends.check_name(backend)  # a misspelt backend fails here, not at the first forward pass
        self.backend = backend

        # Initial membrane potential.
        self.learn_imp = isinstance(imp, str)
        if self.learn_imp:
            if imp != LEARN:
                raise ValueError(f"imp must be None, a number or 'learn', got {imp!r}")
            parse_init(imp_init)  # validate now, not at the first forward
            self.imp_init: float | str | dict[str, Any] | None = imp_init
            self.imp = nn.UninitializedParameter()
            self.imp_value: float | None = None
        else:
            self.imp_init = None
            self.register_parameter("imp", None)
            self.imp_value = None if imp is None else float(imp)

        # Firing threshold.
        self.learn_threshold = isinstance(v_threshold, str)
        if self.learn_threshold:
            if v_threshold != LEARN:
                raise ValueError(f"v_threshold must be a number or 'learn', got {v_threshold!r}")
            init = self.default_threshold if v_threshold_init is None else float(v_threshold_init)
            self.v_threshold_init: float | None = init
            self.v_threshold = nn.UninitializedParameter()
            self.threshold_value = init
        else:
            self.v_threshold_init = None
            self.register_parameter("v_threshold", None)
            self.threshold_value = float(v_threshold)

        # Parameters that need no feature shape are created right away.
        self._create_params(None)
        if feature_shape is not None:
            self._create_params(tuple(feature_shape))
        self._register_load_state_dict_pre_hook(self._materialize_from_state_dict, with_module=False)

        self._v: torch.Tensor | None = None
        self._i: torch.Tensor | None = None
        self.v_seq: torch.Tensor | None = None

    # ------------------------------------------------------------------ dynamics
    def dynamics(self) -> Dynamics:
        """The fixed description of this neuron's dynamics (see ``reference.Dynamics``)."""
        raise NotImplementedError

    def _dynamics(self, kind: NeuronKind, **kind_fields: Any) -> Dynamics:
        """``Dynamics`` of ``kind`` with ``kind_fields`` and the reset and surrogate every node has."""
        return Dynamics(
            kind=kind,
            v_reset=self.v_reset,
            detach_reset=self.detach_reset,
            surrogate=self.surrogate,
            **kind_fields,
        )

    # ------------------------------------------------------------------ parameters
    def _lazy_params(self):
        if self.learn_imp:
            yield "imp", self.imp_sharing
        if self.learn_threshold:
            yield "v_threshold", self.threshold_sharing

    def _create_params(self, features: tuple[int, ...] | None) -> None:
        for name, sharing in self._lazy_params():
            param = getattr(self, name)
            if not isinstance(param, nn.UninitializedParameter):
                if features is not None:
                    self._check_shape(name, param, sharing, features)
                continue
            if sharing != "layer" and features is None:
                continue
            param.materialize(_param_shape(sharing, features or ()))
            init = self.imp_init if name == "imp" else self.v_threshold_init
            assert init is not None  # __init__ sets it for every learnable parameter
            fill_(param, init)

    def _check_shape(self, name: str, param: torch.Tensor, sharing: str, features: tuple[int, ...]) -> None:
        expected = _param_shape(sharing, features)
        if tuple(param.shape) != expected:
            raise NeuronParameterError(
                f"{type(self).__name__}: learnable {name} (sharing={sharing!r}) has shape {tuple(param.shape)} "
                f"but the input's feature shape {features} needs {expected}; a per-neuron parameter fixes the "
                f"feature shape of its layer"
            )

    def is_materialized(self) -> bool:
        return not any(isinstance(getattr(self, n), nn.UninitializedParameter) for n, _ in self._lazy_params())

    def _materialize_from_state_dict(self, state_dict, prefix, *args) -> None:
        for name, _ in self._lazy_params():
            key = prefix + name
            param = getattr(self, name)
            if key in state_dict and isinstance(param, nn.UninitializedParameter):
                param.materialize(state_dict[key].shape)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        if not self.is_materialized():
            raise NeuronParameterError(
                f"{type(self).__name__} at {prefix[:-1] or '<root>'}: learnable imp/v_threshold are created at the "
                "first forward; call spikeforge.materialize(model, sample) (or pass feature_shape=...) before saving"
            )
        super()._save_to_state_dict(destination, prefix, keep_vars)

    # ------------------------------------------------------------------ state
    def reset_state(self) -> None:
        """Forget carried-over state (only meaningful with ``stateful=True``)."""
        self._v = None
        self._i = None

    def reset_records(self) -> None:
        """Clear the stored membrane trace."""
        self.v_seq = None

    def _initial_v(self, step_shape: torch.Size) -> float | torch.Tensor:
        if self.stateful and self._v is not None:
            if self._v.shape != step_shape:
                raise ValueError(
                    f"{type(self).__name__}(stateful=True) holds state of shape {tuple(self._v.shape)} but got a "
                    f"step of shape {tuple(step_shape)}; call reset_state() between sequences of different batch size"
                )
            return self._v
        if self.learn_imp:
            return self.imp
        if self.imp_value is not None:
            return self.imp_value
        return 0.0 if self.v_reset is None else self.v_reset

    def _threshold(self) -> float | torch.Tensor:
        if not self.learn_threshold:
            return self.threshold_value
        theta: torch.Tensor = self.v_threshold
        if self.threshold_min is not None:
            theta = theta.clamp_min(self.threshold_min)
        return theta

    def spike_threshold(self, dtype: torch.dtype) -> float | torch.Tensor:
        """The threshold handed to the backends, for neuron state of ``dtype``.

        Every backend fires at ``H >= theta``. With ``fire_at_threshold=False`` it gets instead the
        next number above ``theta`` in the state dtype, ``theta' = nextafter(theta, +inf)``: no
        number of that dtype lies strictly between the two, so ``H >= theta'`` holds exactly when
        ``H > theta`` for every ``H`` (IEEE comparison, also ``H - theta' >= 0``: the difference
        of two floats is 0 only when they are equal). Only a hard reset is allowed, which does
        not use ``theta``; the surrogate gradient is taken at ``H - theta'`` (one unit in the
        last place from ``H - theta``) and passes on to a learnable ``theta`` unchanged.
        """
        theta = self._threshold()
        if self.fire_at_threshold:
            return theta
        if not isinstance(theta, torch.Tensor):
            return torch.nextafter(torch.tensor(theta, dtype=dtype), torch.tensor(math.inf, dtype=dtype)).item()
        fixed = theta.detach().to(dtype)
        step = torch.nextafter(fixed, torch.full_like(fixed, math.inf)) - fixed  # exact: the two are neighbours
        return theta.to(dtype) + step  # = nextafter(theta) exactly, with theta's gradient

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[T, B, *features]`` input current; returns spikes ``[T, B, *features]`` in ``x.dtype``."""
        if x.dim() < 2:
            raise ValueError(f"{type(self).__name__} expects [T, B, ...] input, got shape {tuple(x.shape)}")
        check_time_steps(type(self).__name__, x, self.T)
        self._create_params(tuple(x.shape[2:]))
        dyn = self.dynamics()
        backend = backends.select(self.backend, x.device, x.dtype, dyn)
        out = backend.fn(
            x,
            dyn,
            self.spike_threshold(state_dtype(x.dtype)),
            self._initial_v(x.shape[1:]),
            self._i if (self.stateful and self._i is not None) else None,
            self.record_v,
        )
        if self.stateful:
            self._v = out.v.detach()
            self._i = None if out.i is None else out.i.detach()
        if self.record_v:
            self.v_seq = cast(torch.Tensor, out.v_seq).detach()  # backends return it when record_v
        return out.spikes

    def extra_repr(self) -> str:
        parts = [self._dynamics_repr()]
        theta = (
            f"learn(init={self.v_threshold_init}, {self.threshold_sharing})"
            if self.learn_threshold
            else (f"{self.threshold_value}")
        )
        parts.append(f"v_threshold={theta}")
        parts.append(f"v_reset={self.v_reset}")
        if self.learn_imp:
            parts.append(f"imp=learn({self.imp_init}, {self.imp_sharing})")
        elif self.imp_value is not None:
            parts.append(f"imp={self.imp_value}")
        parts.append(f"surrogate={self.surrogate}")
        if self.detach_reset:
            parts.append("detach_reset=True")
        if not self.fire_at_threshold:
            parts.append("fire_at_threshold=False")
        if self.stateful:
            parts.append("stateful=True")
        if self.backend != "auto":
            parts.append(f"backend={self.backend!r}")
        return ", ".join(p for p in parts if p)

    def _dynamics_repr(self) -> str:
        return ""


class IFNode(BaseNode):
    """Integrate-and-fire: ``H[t] = V[t-1] + X[t]``. See :class:`BaseNode` for the arguments."""

    def dynamics(self) -> Dynamics:
        return self._dynamics("if")


class LIFNode(BaseNode):
    """Leaky integrate-and-fire with SpikingJelly's semantics.

    ``H[t] = V[t-1] + (X[t] - (V[t-1] - V_r)) / tau`` with ``decay_input`` (default), else
    ``H[t] = V[t-1] - (V[t-1] - V_r) / tau + X[t]``; ``V_r`` is ``v_reset`` or 0 (soft reset).
    Every backend computes ``/ tau`` as a multiply by ``1 / tau`` rounded once to the state
    dtype (``reference.leak_factor``), so results are the same on CPU and CUDA.

    Args:
        tau: membrane time constant (> 1).
        decay_input: whether the input is scaled by ``1/tau``.
        **kwargs: see :class:`BaseNode`.
    """

    def __init__(self, tau: float = 2.0, decay_input: bool = True, **kwargs: Any) -> None:
        if not tau > 1.0:
            raise ValueError(f"LIFNode tau must be > 1 (a time constant), got {tau}")
        super().__init__(**kwargs)
        self.tau = float(tau)
        self.decay_input = bool(decay_input)

    def dynamics(self) -> Dynamics:
        return self._dynamics("lif", tau=self.tau, decay_input=self.decay_input)

    def _dynamics_repr(self) -> str:
        return f"tau={self.tau}" + ("" if self.decay_input else ", decay_input=False")


class CUBALIFNode(BaseNode):
    """Current-based LIF (Rouser / SLAYER CUBA), two state variables.

    ``I[t] = alpha_i * I[t-1] + X[t]``, ``H[t] = V_r + alpha_v * (V[t-1] - V_r) + I[t]``,
    then fire and reset as the other nodes. ``alpha_i`` and ``alpha_v`` are the *retained*
    fractions per step (Rouser Table II: 0.75 and 0.97, i.e. SLAYER's current_decay 0.25
    and voltage_decay 0.03). Defaults follow the paper (``spikeforge.neuron.presets``): threshold
    1.25, hard reset to 0, reset detached as in SLAYER, exponential surrogate (scale 1.5, tau 3.75).
    """

    default_threshold = presets.ROUSER_THRESHOLD
    default_surrogate = Exponential(**{k: v for k, v in presets.ROUSER_SURROGATE.items() if k != "name"})

    def __init__(
        self,
        alpha_i: float = presets.ROUSER_ALPHA_I,
        alpha_v: float = presets.ROUSER_ALPHA_V,
        v_threshold: float | str = presets.ROUSER_THRESHOLD,
        detach_reset: bool = presets.ROUSER_DETACH_RESET,
        **kwargs: Any,
    ) -> None:
        for name, a in (("alpha_i", alpha_i), ("alpha_v", alpha_v)):
            if not 0.0 <= a <= 1.0:
                raise ValueError(f"CUBALIFNode {name} is a retained fraction in [0, 1], got {a}")
        super().__init__(v_threshold=v_threshold, detach_reset=detach_reset, **kwargs)
        self.alpha_i = float(alpha_i)
        self.alpha_v = float(alpha_v)

    def dynamics(self) -> Dynamics:
        return self._dynamics("cuba", alpha_i=self.alpha_i, alpha_v=self.alpha_v)

    def _dynamics_repr(self) -> str:
        return f"alpha_i={self.alpha_i}, alpha_v={self.alpha_v}"


def is_neuron(module: nn.Module) -> TypeGuard[BaseNode]:
    return isinstance(module, BaseNode)


@torch.no_grad()
def materialize(model: nn.Module, sample: torch.Tensor | Sequence[Any]) -> nn.Module:
    """Create every lazily shaped neuron parameter by running ``model`` once on ``sample``.

    Call it after building the model and before building the optimiser, loading a
    checkpoint into it or wrapping it in ``DistributedDataParallel``. It runs in eval mode
    without gradients (batch-norm statistics are untouched) and leaves no neuron state or
    records behind. ``sample`` is what ``model`` takes (a batch of one is enough).
    """
    was_training = model.training
    neurons = [m for m in model.modules() if is_neuron(m)]
    saved = [(m.stateful, m.record_v) for m in neurons]
    for m in neurons:
        m.stateful = m.record_v = False
    try:
        model.eval()
        model(*sample) if isinstance(sample, list | tuple) else model(sample)
    finally:
        model.train(was_training)
        for m, (stateful, rec_v) in zip(neurons, saved, strict=True):
            m.stateful, m.record_v = stateful, rec_v
    missing = [name for name, m in model.named_modules() if is_neuron(m) and not m.is_materialized()]
    if missing:
        raise NeuronParameterError(f"materialize(): these neurons were not reached by the sample forward: {missing}")
    return model


def check_materialized(model: nn.Module) -> None:
    """Raise :class:`NeuronParameterError` naming every neuron whose learnable parameters do not exist yet."""
    missing = [name or "<root>" for name, m in model.named_modules() if is_neuron(m) and not m.is_materialized()]
    if missing:
        raise NeuronParameterError(
            f"learnable imp/v_threshold of {missing} have no shape yet; call spikeforge.materialize(model, sample) "
            "(or build the neurons with feature_shape=...) before creating the optimiser or wrapping in DDP"
        )
