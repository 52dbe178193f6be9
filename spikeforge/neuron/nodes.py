"""The base of every spiking neuron module; each kind's node class (``IFNode``, ``LIFNode``, ...) lives in
its module of :mod:`spikeforge.neuron.kinds`.

All are multi-step: ``forward(x)`` takes ``[T, B, *features]`` and returns spikes of the same shape,
running the T steps in one call. State is *not* carried over between calls (every batch starts from the
initial membrane potential) unless ``stateful=True``.

Learnable neuron parameters
---------------------------
``imp="learn"`` makes the initial membrane potential ``V[-1]`` an ``nn.Parameter`` named
``imp``; ``v_threshold="learn"`` makes the threshold an ``nn.Parameter`` named
``v_threshold``. Their *sharing* says which elements share one value (``"neuron"``,
``"channel"``, ``"layer"``: :mod:`spikeforge.neuron.learnable`); a kind may add its own
(PLIF's ``w``) with :meth:`BaseNode.add_learnable`.

Per-neuron and per-channel shapes are known only from the input. Either pass
``feature_shape=(C, H, W)`` at construction, or call :func:`spikeforge.materialize`
with a sample input before building the optimiser or wrapping in DDP. Until then the
parameters are ``torch.nn.UninitializedParameter``s; loading a state dict materialises
them from the stored shapes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, TypeGuard, cast

import torch
from torch import nn

from ..errors import SpikeForgeError
from ..timelayout import check_time_steps
from . import backends
from .kind_spec import neuron_kind
from .learnable import LEARN, SHARINGS, Init, Learnable, Sharing, fill_
from .reference import Dynamics, state_dtype
from .surrogate import Surrogate, get_surrogate

__all__ = ["BaseNode", "NeuronParameterError", "check_materialized", "is_neuron", "materialize"]


class NeuronParameterError(SpikeForgeError, RuntimeError):
    """A lazily shaped neuron parameter was used before it was created, or with the wrong shape."""


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

    #: the kind's name in :data:`spikeforge.neuron.kind_spec.NEURON_KINDS` (each kind's node class sets it)
    kind: ClassVar[str]
    default_threshold: float = 1.0
    default_surrogate: Surrogate | str = "atan"
    #: expected number of time steps; when set, an input with another ``x.shape[0]`` fails
    #: (see :func:`spikeforge.set_time_steps`). ``None`` accepts any ``T``.
    T: int | None = None
    #: modules that check their input's ``T`` say so (:func:`spikeforge.set_time_steps` finds them by it, so
    #: that the time-layout module, below the neurons, never imports them)
    checks_time_steps: ClassVar[bool] = True

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
        for what, sharing in (("imp_sharing", imp_sharing), ("threshold_sharing", threshold_sharing)):
            if sharing not in SHARINGS:
                raise ValueError(f"{what} must be one of {SHARINGS}, got {sharing!r}")
        self.fire_at_threshold = bool(fire_at_threshold)
        self.v_reset = None if v_reset is None else float(v_reset)
        self.surrogate = get_surrogate(surrogate if surrogate is not None else self.default_surrogate)
        self.detach_reset = bool(detach_reset)
        self.imp_sharing = imp_sharing
        self.threshold_sharing = threshold_sharing
        self.threshold_min = threshold_min
        self.stateful = stateful
        self.record_v = record_v
        self.backend = self._checked_backend(backend)

        self.learnables: dict[str, Learnable] = {}
        self._init_imp_and_threshold(imp, imp_init, v_threshold, v_threshold_init)
        if feature_shape is not None:  # per-neuron and per-channel parameters are created now too
            self._create_params(tuple(feature_shape))
        self._register_load_state_dict_pre_hook(self._materialize_from_state_dict, with_module=False)

        self._v: torch.Tensor | None = None
        self._i: torch.Tensor | None = None
        self.v_seq: torch.Tensor | None = None

    def _checked_backend(self, backend: str) -> str:
        """``backend`` when it exists and runs this node's kind (a misspelt or refused one fails now, not at the
        first forward pass)."""
        backends.check_name(backend)
        kind = neuron_kind(self.kind)
        if backend not in ("auto", "torch") and backend not in kind.fused_backends():
            runs = [*sorted(kind.fused_backends()), "torch"]
            raise ValueError(
                f"neuron kind {kind.name!r} has no fused {backend!r} kernel; choose backend 'auto' or one of {runs}"
            )
        return backend

    def _init_imp_and_threshold(
        self, imp: float | str | None, imp_init: Init, v_threshold: float | str, v_threshold_init: float | None
    ) -> None:
        """Each of the initial membrane potential and the threshold is fixed (a number) or learnable (``"learn"``)."""
        self.learn_imp = isinstance(imp, str)
        if self.learn_imp and imp != LEARN:
            raise ValueError(f"imp must be None, a number or 'learn', got {imp!r}")
        self.learn_threshold = isinstance(v_threshold, str)
        if self.learn_threshold and v_threshold != LEARN:
            raise ValueError(f"v_threshold must be a number or 'learn', got {v_threshold!r}")
        theta_init = self.default_threshold if v_threshold_init is None else float(v_threshold_init)
        #: the fixed IMP (``None``: ``v_reset``, or 0 for a soft reset) and threshold; for a learnable one
        #: ``imp_value`` is ``None`` and ``threshold_value`` its initial value
        self.imp_value: float | None = None if (self.learn_imp or imp is None) else float(cast(float, imp))
        self.threshold_value = theta_init if self.learn_threshold else float(v_threshold)
        self.imp_init: Init | None = imp_init if self.learn_imp else None
        self.v_threshold_init: float | None = theta_init if self.learn_threshold else None
        for name, learns, sharing, init in (
            ("imp", self.learn_imp, self.imp_sharing, imp_init),
            ("v_threshold", self.learn_threshold, self.threshold_sharing, theta_init),
        ):
            if learns:
                self.add_learnable(name, sharing, init)
            else:
                self.register_parameter(name, None)

    def add_learnable(self, name: str, sharing: Sharing, init: Init, group: str | None = None) -> None:
        """Declare the learnable parameter ``name``: an ``nn.Parameter`` of ``sharing`` filled from ``init``, created
        now when its shape is known (``"layer"``, or ``feature_shape`` given) and else at the first forward pass.

        ``group``: the parameter kind the optimiser groups it by (default ``name``; see :meth:`neuron_parameters`).
        """
        self.learnables[name] = Learnable(name, group or name, sharing, init)
        setattr(self, name, nn.UninitializedParameter())
        self._create_params(None)  # the ones that need no feature shape

    # ------------------------------------------------------------------ dynamics
    def dynamics(self) -> Dynamics:
        """The description of this neuron's dynamics (see ``reference.Dynamics``)."""
        return Dynamics(
            self.kind,
            self.kind_params(),
            v_reset=self.v_reset,
            detach_reset=self.detach_reset,
            surrogate=self.surrogate,
        )

    def kind_params(self) -> Any:
        """The kind's parameters (its ``NamedTuple``, :mod:`spikeforge.neuron.kind_spec`); a kind with parameters
        overrides this."""
        return neuron_kind(self.kind).make_params()

    # ------------------------------------------------------------------ parameters
    def _lazy_params(self) -> Iterator[tuple[str, str]]:
        for spec in self.learnables.values():
            yield spec.name, spec.sharing

    def neuron_parameters(self) -> Iterator[tuple[str, nn.Parameter, str]]:
        """``(name, parameter, group)`` of every learnable neuron parameter of this node, ``group`` being the
        parameter kind the optimiser groups it by (``"imp"``, ``"v_threshold"``, PLIF's ``"tau"``)."""
        for spec in self.learnables.values():
            yield spec.name, getattr(self, spec.name), spec.group

    def _create_params(self, features: tuple[int, ...] | None) -> None:
        for spec in self.learnables.values():
            param = getattr(self, spec.name)
            if not isinstance(param, nn.UninitializedParameter):
                if features is not None:
                    self._check_shape(spec.name, param, spec.sharing, features)
                continue
            if spec.sharing != "layer" and features is None:
                continue
            param.materialize(spec.shape(features or ()))
            fill_(param, spec.init)

    def _check_shape(self, name: str, param: torch.Tensor, sharing: str, features: tuple[int, ...]) -> None:
        expected = self.learnables[name].shape(features)
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
            return cast(torch.Tensor, self.imp)
        if self.imp_value is not None:
            return self.imp_value
        return 0.0 if self.v_reset is None else self.v_reset

    def effective_threshold(self) -> float | torch.Tensor:
        """The threshold in effect: the fixed one, or the learnable one floored at ``threshold_min``."""
        if not self.learn_threshold:
            return self.threshold_value
        theta = cast(torch.Tensor, self.v_threshold)
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
        theta = self.effective_threshold()
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
