"""Typed run configuration, loaded from YAML and validated field by field.

A run is described completely by one YAML file (see ``configs/``). Loading checks every
key and type: an unknown key or a wrong type fails at load time with a
:class:`ConfigError` naming the field (``optim.lr``) and what is allowed. Command-line
overrides ``--set a.b=c`` are applied before validation; values are parsed as YAML
(``--set optim.lr=0.01``, ``--set neuron.imp=null``, ``--set data.options.window=3``).

Sections whose keys belong to another component (``neuron``, ``model.options``,
``data.options``, ``loss.options``) are free mappings here and are validated by that
component (the neuron factory, the model and dataset registries, the loss class) when
the run is built, with the same kind of one-line error.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "AugmentConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "ScheduleConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "load_config",
]


class ConfigError(ValueError):
    """A bad configuration: the message names the field and what is allowed."""


@dataclasses.dataclass
class ModelConfig:
    """``name``: a registered model (``models.list_models()``); ``options``: its kwargs.

    ``init_from``: a state-dict file loaded non-strictly before training (keys that match in
    name and shape are copied), e.g. torchvision's ANN ResNet weights as the ImageNet runs of
    Shen et al. start from.
    """

    name: str = "digits_convnet"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    init_from: str | None = None


@dataclasses.dataclass
class DataConfig:
    """Dataset, encoding and loading.

    ``encoder`` turns a batch into ``[T, B, ...]``: ``direct`` (repeat a static sample),
    ``poisson`` (rate-coded spikes) or ``sequence`` (the sample already has a time axis);
    ``auto`` picks ``direct`` for static and ``sequence`` for temporal datasets.
    ``repeated_augment``: repeat every training sample this many times per epoch, each copy
    augmented separately, keeping the epoch length (repeated-augmentation sampling, as
    mmpretrain's ``RepeatAugSampler``; 1 = off; see ``spikeforge.data.sampler``).
    """

    name: str = "digits"
    root: str | None = None
    encoder: Literal["auto", "direct", "poisson", "sequence"] = "auto"
    batch_size: int = 64
    eval_batch_size: int | None = None
    num_workers: int = 0
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    repeated_augment: int = 1


@dataclasses.dataclass
class LossConfig:
    """``name``: ``sdt`` | ``tet`` | ``tet_s`` | ``lts`` | ``spike_rate``; ``options``: its kwargs."""

    name: Literal["sdt", "tet", "tet_s", "lts", "spike_rate"] = "lts"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class OptimConfig:
    """Optimiser and parameter groups.

    ``no_decay`` lists the parameter kinds exempt from weight decay: ``imp``,
    ``v_threshold``, ``norm`` (batch/group/layer norm), ``bias``, ``te`` (TEBN scale).
    ``neuron_lr`` sets a separate learning rate for learnable thresholds and IMPs (Rouser
    trains thresholds with their own rate); ``None`` uses ``lr``. ``lamb`` is
    :class:`spikeforge.train.optim.Lamb` (timm / mmpretrain's LAMB, with its global gradient
    clipping at norm 1).
    """

    name: Literal["sgd", "adam", "adamw", "lamb"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    neuron_lr: float | None = None
    no_decay: list[Literal["imp", "v_threshold", "norm", "bias", "te"]] = dataclasses.field(
        default_factory=lambda: ["imp", "v_threshold", "norm", "bias", "te"]
    )
    grad_clip: float | None = None


@dataclasses.dataclass
class ScheduleConfig:
    """Learning-rate schedule.

    ``cosine`` decays from ``lr`` to ``min_lr`` over the epochs after warm-up; ``step``
    multiplies by ``gamma`` every ``step_size`` epochs; ``constant`` keeps ``lr``; these change
    at epoch boundaries. A linear warm-up over ``warmup_epochs`` starts at
    ``lr * warmup_start_factor``; it rises once per epoch, or every iteration with
    ``warmup_per_iteration`` (mmpretrain's ``convert_to_iter_based``, the official recipes).
    """

    name: Literal["cosine", "step", "constant"] = "cosine"
    warmup_epochs: int = 0
    warmup_start_factor: float = 0.01
    min_lr: float = 0.0
    step_size: int = 30
    gamma: float = 0.1
    warmup_per_iteration: bool = False


@dataclasses.dataclass
class AugmentConfig:
    """Batch-level augmentation producing soft targets (off when 0)."""

    mixup: float = 0.0
    cutmix: float = 0.0
    mix_prob: float = 1.0


@dataclasses.dataclass
class RunConfig:
    """How the loop runs: evaluation, checkpoints, monitors, distributed options.

    ``threads`` sets ``torch.set_num_threads`` (``None``: PyTorch's default, one per core).
    Small networks on CPU are often fastest with 1 thread, and much faster when the machine
    is shared: intra-op threads of tiny operations spend their time waiting for each other.
    ``plots: false`` skips the PNG curves (sweeps of many short runs spend more time drawing
    than training); the metrics files are written either way.
    """

    eval_every: int = 1
    checkpoint: bool = True
    monitor: bool = False
    sync_bn: bool = False
    progress: bool = True
    max_steps_per_epoch: int | None = None
    deterministic: bool = False
    threads: int | None = None
    plots: bool = True


@dataclasses.dataclass
class Config:
    """One training run. ``T`` is the number of time steps; ``device`` is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""

    name: str = "run"
    description: str = ""
    seed: int = 0
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    T: int = 4
    epochs: int = 10
    out_dir: str = "runs"
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    neuron: dict[str, Any] = dataclasses.field(default_factory=dict)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    run: RunConfig = dataclasses.field(default_factory=RunConfig)

    def validate(self) -> Config:
        """Cross-field checks that types alone cannot express."""
        checks = [
            (self.T >= 1, "T must be >= 1"),
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.data.batch_size >= 1, "data.batch_size must be >= 1"),
            (self.data.num_workers >= 0, "data.num_workers must be >= 0"),
            (self.optim.lr > 0, "optim.lr must be > 0"),
            (self.optim.weight_decay >= 0, "optim.weight_decay must be >= 0"),
            (self.optim.grad_clip is None or self.optim.grad_clip > 0, "optim.grad_clip must be > 0 or null"),
            (self.schedule.warmup_epochs >= 0, "schedule.warmup_epochs must be >= 0"),
            (self.run.eval_every >= 1, "run.eval_every must be >= 1"),
            (self.run.threads is None or self.run.threads >= 1, "run.threads must be >= 1 or null"),
            (0 <= self.augment.mix_prob <= 1, "augment.mix_prob must be in [0, 1]"),
            (self.augment.mixup >= 0 and self.augment.cutmix >= 0, "augment.mixup/cutmix must be >= 0"),
            (
                self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
                f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}",
            ),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)
        return self


# ----------------------------------------------------------------------------- conversion
def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in typing.get_args(tp))}]"
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (int -> float, list -> tuple)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping with keys {[f.name for f in dataclasses.fields(tp)]}")
        return _build(tp, value, where)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {list(args)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where} must be {_type_name(tp)}, got {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list of {_type_name(args[0])}, got {value!r}")
        return [_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise ConfigError(f"{where} must be a list of {len(args)} values ({_type_name(tp)}), got {value!r}")
        return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads `1e-3` (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config annotation {tp!r} at {where}")  # a bug in this module, not a user error


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in raw if k not in names]
    if unknown:
        field = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown config key {field!r}; allowed keys{' in ' + where if where else ''}: {names}")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}" if where else k) for k, v in raw.items()}
    return cls(**kwargs)


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Validate a plain mapping into a :class:`Config` (raises :class:`ConfigError`)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping at the top level, got {type(raw).__name__}")
    return _build(Config, raw, "").validate()


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Plain mapping (tuples as lists) suitable for YAML and JSON."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=c`` overrides (values parsed as YAML) to a copy of ``raw``."""
    out = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {key}: cannot parse value {text!r}: {exc}") from None
        parts = key.strip().split(".")
        node = out
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {p!r} is not a section")
            node = child
        node[parts[-1]] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with one-line errors for a missing file or bad syntax."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}: invalid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: a config must be a mapping at the top level")
    return raw


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load ``path`` (or the defaults when ``None``), apply overrides, validate.

    ``path`` is a YAML file or the name of a shipped config (``load_config("digits_imp_lts")``,
    see ``spikeforge configs``); ``overrides`` are ``"a.b=value"`` strings parsed as YAML.
    """
    if path is not None and not Path(path).is_file() and Path(path).parent == Path("."):
        from ..cli import resolve_config_path  # a bare name: a shipped config, or the one-line error

        path = resolve_config_path(str(path))
    raw = read_yaml(path) if path is not None else {}
    try:
        return config_from_dict(apply_overrides(raw, overrides or []))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path is not None else str(exc)) from None
