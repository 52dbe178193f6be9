"""Turn a :class:`Config` into the objects of a run: datasets, loaders, model, loss."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sized
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data.registry import DatasetInfo, build_dataset, dataset_info
from ..encoding import encode
from ..errors import UserError
from ..losses import build_loss
from .config import Config, ConfigError, check_loss

__all__ = [
    "EpochShuffle",
    "ShardSampler",
    "build_data",
    "build_loss_from_config",
    "build_model_from_config",
    "encode_batch",
    "encoder_name",
]


class EpochShuffle(Sampler[int]):
    """A shuffling sampler whose order depends only on ``(seed, epoch)``, so a resumed run sees the same batches."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


class ShardSampler(Sampler[int]):
    """Every ``world``-th index from ``rank``: an evaluation shard without padding duplicates."""

    def __init__(self, n: int, rank: int, world: int) -> None:
        self.indices = list(range(rank, n, world))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def build_data(cfg: Config, rank: int = 0, world: int = 1) -> tuple[DatasetInfo, DataLoader, DataLoader]:
    """Datasets and loaders; with ``world > 1`` the train loader uses a DistributedSampler."""
    info = dataset_info(cfg.data.name)
    train_set: Dataset = build_dataset(cfg.data.name, "train", root=cfg.data.root, T=cfg.T, **cfg.data.options)
    test_set: Dataset = build_dataset(cfg.data.name, "test", root=cfg.data.root, T=cfg.T, **cfg.data.options)
    if cfg.data.repeated_augment > 1:
        from ..data.sampler import RepeatAugSampler

        train_sampler: Sampler = RepeatAugSampler(
            len(cast(Sized, train_set)), cfg.data.repeated_augment, rank, world, cfg.seed
        )
    elif world > 1:
        from torch.utils.data.distributed import DistributedSampler

        train_sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, seed=cfg.seed)
    else:
        train_sampler = EpochShuffle(len(cast(Sized, train_set)), cfg.seed)
    common: dict[str, Any] = {
        "num_workers": cfg.data.num_workers,
        "pin_memory": torch.cuda.is_available(),
        "persistent_workers": cfg.data.num_workers > 0,
        "worker_init_fn": _worker_init_fn(),
    }
    train_loader = DataLoader(
        train_set, batch_size=cfg.data.batch_size, sampler=train_sampler, drop_last=False, **common
    )
    test_loader = DataLoader(
        test_set,
        batch_size=cfg.data.eval_batch_size or 2 * cfg.data.batch_size,
        sampler=ShardSampler(len(cast(Sized, test_set)), rank, world),
        **common,
    )
    return info, train_loader, test_loader


def _worker_init_fn() -> Callable[[int], None] | None:
    """The loader workers' set-up: this process's allocator set-up, when it has one.

    A forked worker inherits the ``mallopt`` settings; a ``spawn``/``forkserver`` one starts
    with glibc's defaults, so every worker repeats them (harmless when inherited).
    """
    from ..runtime import allocator_status, worker_init

    status = allocator_status()
    if status is None or not status.applied:
        return None
    return functools.partial(worker_init, status.mode)


def encoder_name(cfg: Config, info: DatasetInfo) -> str:
    if cfg.data.encoder != "auto":
        if cfg.data.encoder == "sequence" and info.kind == "static":
            raise ConfigError(f"data.encoder 'sequence' needs a temporal dataset; {info.name!r} is static")
        if cfg.data.encoder != "sequence" and info.kind == "sequence":
            raise ConfigError(f"dataset {info.name!r} is already temporal: use data.encoder 'sequence' or 'auto'")
        return cfg.data.encoder
    return "direct" if info.kind == "static" else "sequence"


def encode_batch(x: torch.Tensor, encoder: str, T: int) -> torch.Tensor:
    """Batch from the loader ``[B, ...]`` to model input ``[T, B, ...]``."""
    return encode(encoder, x, T)


def build_model_from_config(cfg: Config, num_classes: int) -> nn.Module:
    """``models.build_model(cfg.model.name, num_classes=..., neuron=cfg.neuron, T=cfg.T, **cfg.model.options)``.

    ``T`` is passed only to models whose constructor takes it (TEBN, static stems); an empty
    ``neuron`` section leaves the model's own default neuron.
    """
    from ..models.registry import build_model, model_info

    kwargs: dict[str, Any] = dict(cfg.model.options)
    try:
        accepted = model_info(cfg.model.name).options()
    except ValueError as exc:
        raise ConfigError(f"model.name: {exc}") from None
    if "num_classes" in accepted:  # dense nets give the classes as the last of `sizes`
        kwargs.setdefault("num_classes", num_classes)
    if cfg.neuron:  # an empty section means the model's paper default neuron
        kwargs.setdefault("neuron", cfg.neuron)
    if "T" in accepted:
        kwargs.setdefault("T", cfg.T)
    try:
        return build_model(cfg.model.name, **kwargs)
    except UserError as exc:  # already names the model
        raise ConfigError(str(exc)) from None


def check_init_from(cfg: Config) -> None:
    """Fail in one line, before any data is read, when ``model.init_from`` names a missing file."""
    path = cfg.model.init_from
    if path and not Path(path).is_file():
        raise ConfigError(
            f"model.init_from: weights file {path} not found (this config starts from those ANN weights; "
            "download the file named there, or --set model.init_from=null to start from scratch)"
        )


def init_from_state_dict(model: nn.Module, path: str) -> tuple[int, int]:
    """Copy the entries of a state-dict file whose names and shapes match; returns ``(copied, skipped)``.

    Accepts a plain state dict or a checkpoint holding one under ``model`` or ``state_dict``.
    A torchvision ResNet state dict loaded into a :class:`~spikeforge.models.SEWResNet` is
    renamed to the SEW-ResNet's keys first (the official ImageNet runs start from those ANN
    weights). Neuron parameters that do not exist yet are skipped: call this after
    ``materialize`` if they should be loaded too.
    """
    from ..models.sew_resnet import SEWResNet, torchvision_resnet_key
    from .checkpoint import load_checkpoint

    if not Path(path).is_file():
        raise ConfigError(f"model.init_from: weights file {path} not found")
    state = load_checkpoint(path)
    for key in ("model", "state_dict"):
        if isinstance(state.get(key), dict):
            state = state[key]
    if isinstance(model, SEWResNet) and "conv1.weight" in state:
        try:
            state = {torchvision_resnet_key(k): v for k, v in state.items() if not k.endswith("num_batches_tracked")}
        except ValueError as exc:
            raise ConfigError(f"model.init_from {path}: {exc}") from None
    own = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    matched = {
        k: v
        for k, v in state.items()
        if k in own and not isinstance(own[k], nn.UninitializedParameter) and tuple(own[k].shape) == tuple(v.shape)
    }
    if not matched:
        raise ConfigError(f"model.init_from {path}: no entry matches the model's parameter names and shapes")
    with torch.no_grad():
        for k, v in matched.items():
            own[k].copy_(v)
    print(f"[spikeforge] init_from {path}: copied {len(matched)} tensors, skipped {len(state) - len(matched)}")
    return len(matched), len(state) - len(matched)


def build_loss_from_config(cfg: Config) -> nn.Module:
    """The config's loss; its section is checked as at config load (:func:`~.config.check_loss`)."""
    check_loss(cfg.loss)
    return build_loss(cfg.loss.name, **cfg.loss.options)
