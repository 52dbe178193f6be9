"""Typed run configuration, loaded from YAML and validated field by field.

A run is described completely by one YAML file (see ``configs/``). Loading checks every
key and type: an unknown key or a wrong type fails at load time with a
:class:`ConfigError` naming the field (``optim.lr``) and what is allowed. Command-line
overrides ``--set a.b=c`` are applied before validation; values are parsed as YAML
(``--set optim.lr=0.01``, ``--set neuron.imp=null``, ``--set data.options.window=3``).

Sections whose keys belong to another component (``neuron``, ``model.options``,
``data.options``, ``loss.options``) are free mappings in the dataclasses and are checked at
load time against that component's registry (the neuron factory, the model and dataset
registries, the loss classes), before any data is built, with the same kind of one-line
error. Numbers must be finite; learning rates, thresholds and schedule values positive.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from ..errors import ConfigError  # ConfigError: its home is errors (device.py raises it too)

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
    "resolve_config_path",
    "resume_changes",
    "shipped_configs",
    "validate_components",
]


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
    encoder: str = "auto"  # "auto" or a name of spikeforge.encoding.ENCODERS (checked at load)
    batch_size: int = 64
    eval_batch_size: int | None = None
    num_workers: int = 0
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    repeated_augment: int = 1


@dataclasses.dataclass
class LossConfig:
    """``name``: a loss of ``spikeforge.losses.LOSSES`` (``sdt``, ``tet``, ``tet_s``, ``lts``, ``spike_rate``, or
    a registered one; ``tet-s`` is ``tet_s``); ``options``: its options (:func:`check_loss`)."""

    name: str = "lts"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class OptimConfig:
    """Optimiser and parameter groups.

    ``no_decay`` lists the parameter kinds exempt from weight decay: ``imp``,
    ``v_threshold``, ``tau`` (PLIF's learnable time constant), ``norm`` (batch/group/layer norm), ``bias``,
    ``te`` (TEBN scale).
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
    no_decay: list[Literal["imp", "v_threshold", "tau", "norm", "bias", "te"]] = dataclasses.field(
        default_factory=lambda: ["imp", "v_threshold", "tau", "norm", "bias", "te"]
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
    ``allocator`` is read by the ``spikeforge`` commands: ``tuned`` keeps freed memory for reuse
    (:func:`spikeforge.runtime.tune_allocator`), ``system`` leaves the C library's defaults
    (``SPIKEFORGE_ALLOCATOR`` in the environment overrides it).
    """

    eval_every: int = 1
    checkpoint: bool = True
    monitor: bool = False
    monitor_membrane: bool = False  # with monitor: membrane statistics too (records every layer's [T, B, ...] trace)
    metrics: list[str] = dataclasses.field(default_factory=list)  # with monitor: more registered metrics (by name)
    sync_bn: bool = False
    progress: bool = True
    max_steps_per_epoch: int | None = None
    deterministic: bool = False
    threads: int | None = None
    plots: bool = True
    allocator: Literal["tuned", "system"] = "tuned"


#: the range of ``seed`` (a signed 64-bit integer; see :meth:`Config.validate`)
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1


@dataclasses.dataclass
class Config:
    """One training run. ``T`` is the number of time steps; ``device`` is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""

    name: str = "run"
    description: str = ""
    seed: int = 0
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    # saved activations: none | compress | checkpoint | auto (spikeforge.memory; every mode gives the same numbers)
    memory: Literal["none", "compress", "checkpoint", "auto"] = "none"
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
            # torch.manual_seed takes [-2**63, 2**64 - 1]; each rank seeds with seed + rank, so the top is kept free
            (SEED_MIN <= self.seed <= SEED_MAX, f"seed must be in [-2**63, 2**63 - 1], got {self.seed}"),
            (self.T >= 1, "T must be >= 1"),
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.data.batch_size >= 1, "data.batch_size must be >= 1"),
            (self.data.num_workers >= 0, "data.num_workers must be >= 0"),
            (
                self.data.eval_batch_size is None or self.data.eval_batch_size >= 1,
                "data.eval_batch_size must be >= 1 or null",
            ),
            (self.optim.lr > 0, "optim.lr must be > 0"),
            (self.optim.neuron_lr is None or self.optim.neuron_lr > 0, "optim.neuron_lr must be > 0 or null"),
            (self.optim.weight_decay >= 0, "optim.weight_decay must be >= 0"),
            (self.optim.momentum >= 0, "optim.momentum must be >= 0"),
            (all(0 <= b < 1 for b in self.optim.betas), "optim.betas must be in [0, 1)"),
            (self.optim.grad_clip is None or self.optim.grad_clip > 0, "optim.grad_clip must be > 0 or null"),
            (self.schedule.warmup_epochs >= 0, "schedule.warmup_epochs must be >= 0"),
            (self.schedule.warmup_start_factor > 0, "schedule.warmup_start_factor must be > 0"),
            (self.schedule.min_lr >= 0, "schedule.min_lr must be >= 0"),
            (self.schedule.step_size >= 1, "schedule.step_size must be >= 1"),
            (self.schedule.gamma > 0, "schedule.gamma must be > 0"),
            (self.run.eval_every >= 1, "run.eval_every must be >= 1"),
            (
                self.run.max_steps_per_epoch is None or self.run.max_steps_per_epoch >= 1,
                "run.max_steps_per_epoch must be >= 1 or null",
            ),
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
        return _build(cast(type, tp), value, where)
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
        if len(errors) == 1 and "finite" in errors[0]:  # the one number arm, e.g. `float | None` given NaN
            raise ConfigError(errors[0])
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
                value = float(value)
            except ValueError:
                value = value  # not a number: reported below
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
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
    return validate_components(_build(Config, raw, "").validate())


def _numbers(node: Any, where: str):
    """``(dotted key, number)`` of every int/float leaf of a nested mapping."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _numbers(v, f"{where}.{k}")
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            yield from _numbers(v, f"{where}[{i}]")
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield where, node


def validate_components(cfg: Config) -> Config:
    """Check the free sections against their registries, before any data or model is built.

    ``model.name`` / ``model.options`` against the model registry, ``neuron`` against the
    neuron factory (built once: its own checks, e.g. ``tau > 1``, run now), ``data.name`` /
    ``data.options`` against the dataset registry, ``loss.name`` / ``loss.options`` against the
    loss classes. Numbers in ``neuron``, ``model.options`` and ``data.options`` must be finite; a
    numeric ``v_threshold`` positive.
    """
    from ..data.registry import dataset_info
    from ..models.registry import model_info
    from ..registry import check_option_names

    # loss.options are left to the loss: a NaN there is the suite's way to make the loss itself diverge
    for section in ("neuron", "model.options", "data.options"):
        node = cfg.neuron if section == "neuron" else getattr(cfg, section.split(".")[0]).options
        for key, value in _numbers(node, section):
            if not math.isfinite(value):
                raise ConfigError(f"{key} must be a finite number, got {value!r}")
    for key, value in _numbers(cfg.neuron, "neuron"):
        if key.rsplit(".", 1)[-1].startswith("v_threshold") and value <= 0:
            raise ConfigError(f"{key} must be > 0, got {value!r}")
    try:
        info = model_info(cfg.model.name)
    except ValueError as exc:
        raise ConfigError(f"model.name: {exc}") from None
    try:  # names only: the run fills in num_classes and T, the model checks its values when it is built
        check_option_names(f"model {cfg.model.name!r}", info.options_type, cfg.model.options)
    except ValueError as exc:
        raise ConfigError(f"model.options: {exc}") from None
    if cfg.neuron:
        from ..neuron.factory import build_neuron

        try:
            build_neuron(cfg.neuron)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"neuron: {exc}") from None
    try:
        data = dataset_info(cfg.data.name)
    except ValueError as exc:
        raise ConfigError(f"data.name: {exc}") from None
    try:  # names and values (the options dataclass's own checks): nothing is read yet
        data.parse_options(cfg.data.options)
    except ValueError as exc:
        raise ConfigError(f"data.options: {exc}") from None
    from ..encoding import ENCODERS

    if cfg.data.encoder != "auto" and cfg.data.encoder not in ENCODERS:
        raise ConfigError(f"data.encoder must be one of {['auto', *ENCODERS]}, got {cfg.data.encoder!r}")
    from .builders import encoder_name

    encoder_name(cfg, data)  # an encoder that does not fit the dataset's kind (static / temporal)
    check_loss(cfg.loss)
    check_metrics(cfg.run)
    return cfg


def check_metrics(run: RunConfig) -> None:
    """``run.metrics`` against the metric registry (:data:`spikeforge.monitor.metrics.METRICS`), which needs the
    monitor."""
    if not run.metrics:
        return
    from ..monitor.metrics import METRICS

    unknown = [name for name in run.metrics if name not in METRICS]
    if unknown:
        raise ConfigError(f"run.metrics: unknown metric {unknown}; choose from {METRICS.names()}")
    if not run.monitor:
        raise ConfigError("run.metrics needs run.monitor: true (the metrics are kept by the monitor)")


def check_loss(loss: LossConfig) -> Any:
    """``loss.name`` and ``loss.options`` against the loss registry; returns the typed options.

    The name in any spelling :func:`spikeforge.losses.loss_key` normalises (``tet-s`` is ``tet_s``),
    as :func:`spikeforge.losses.build_loss` accepts it. Only the names of the options and the checks
    of a loss's declared options dataclass apply: a NaN in ``loss.options`` is the suite's way to make
    the loss itself diverge.
    """
    from ..losses import loss_info, loss_names

    try:
        info = loss_info(loss.name)
    except ValueError:
        raise ConfigError(f"loss.name must be one of {loss_names()}, got {loss.name!r}") from None
    unknown = sorted(set(loss.options) - set(info.options()))
    if unknown:
        raise ConfigError(f"loss.options {unknown} not accepted by {loss.name!r}; allowed: {info.options()}")
    try:
        return info.parse_options(loss.options)
    except ValueError as exc:
        raise ConfigError(f"loss.options: {exc}") from None


# Fields a --resume may change: they do not change what the checkpoint holds. Prefixes match whole keys.
RESUMABLE = (
    "name",
    "description",
    "epochs",
    "device",
    "out_dir",
    "optim.lr",
    "optim.neuron_lr",
    "optim.weight_decay",
    "optim.momentum",
    "optim.nesterov",
    "optim.betas",
    "optim.grad_clip",
    "schedule",
    "augment",
    "data.root",
    "data.num_workers",
    "data.eval_batch_size",
    "run.eval_every",
    "run.checkpoint",
    "run.progress",
    "run.max_steps_per_epoch",
    "run.deterministic",
    "run.threads",
    "run.plots",
    "run.allocator",
)


def _flatten(node: Any, where: str = "") -> dict[str, Any]:
    if isinstance(node, dict) and node:
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{where}.{k}" if where else str(k)))
        return out
    return {where: node}


def resume_changes(
    old: dict[str, Any], new: dict[str, Any]
) -> tuple[dict[str, tuple[Any, Any]], list[tuple[str, Any, Any]]]:
    """Compare a checkpoint's config with the config of its resume.

    Returns ``(applied, refused)``: ``{key: (old, new)}`` for changes a resume applies (see
    :data:`RESUMABLE`) and ``[(key, old, new)]`` for changes it must refuse (the model, the
    data, the loss, ``T``, the seed, ...: they would no longer match the checkpoint).
    """
    a, b = _flatten(old), _flatten(new)
    applied: dict[str, tuple[Any, Any]] = {}
    refused: list[tuple[str, Any, Any]] = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        if any(key == r or key.startswith(r + ".") for r in RESUMABLE):
            applied[key] = (va, vb)
        else:
            refused.append((key, va, vb))
    return applied, refused


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


CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = "digits_imp_lts"


def resolve_config_path(name_or_path: str | None) -> Path:
    """A YAML path, or a shipped config's name (with or without ``.yaml``); ``None``: the default config."""
    if name_or_path is None:
        return CONFIG_DIR / f"{DEFAULT_CONFIG}.yaml"
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = CONFIG_DIR / (p.name if p.suffix in (".yaml", ".yml") else f"{p.name}.yaml")
    if shipped.is_file():
        return shipped
    raise ConfigError(f"config {name_or_path!r} is neither a file nor a shipped config (see `spikeforge configs`)")


def shipped_configs() -> list[tuple[str, str]]:
    """``(name, description)`` of every shipped config, sorted by name."""
    out = []
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text()) or {}
        out.append((path.stem, str(raw.get("description", "")).strip()))
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load ``path`` (or the defaults when ``None``), apply overrides, validate.

    ``path`` is a YAML file or the name of a shipped config (``load_config("digits_imp_lts")``,
    see ``spikeforge configs``); ``overrides`` are ``"a.b=value"`` strings parsed as YAML.
    """
    if path is not None and not Path(path).is_file() and Path(path).parent == Path("."):
        path = resolve_config_path(str(path))  # a bare name: a shipped config, or the one-line error
    raw = read_yaml(path) if path is not None else {}
    try:
        return config_from_dict(apply_overrides(raw, overrides or []))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path is not None else str(exc)) from None
