"""Optimiser with parameter groups, and per-epoch learning-rate schedules."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from .config import OptimConfig, ScheduleConfig

__all__ = ["build_optimizer", "build_scheduler", "lr_factor", "parameter_kinds"]

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)


def parameter_kinds(model: nn.Module) -> Iterator[tuple[str, nn.Parameter, str]]:
    """Yield ``(name, param, kind)`` with kind ``imp`` | ``v_threshold`` | ``te`` | ``norm`` | ``bias`` | ``weight``."""
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            name = f"{mod_name}.{p_name}" if mod_name else p_name
            if p_name in ("imp", "v_threshold", "te"):
                kind = p_name
            elif isinstance(module, _NORMS):
                kind = "norm"
            elif p_name == "bias":
                kind = "bias"
            else:
                kind = "weight"
            yield name, p, kind


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """SGD / Adam / AdamW over up to four groups: (weights | no-decay) x (network | neuron parameters).

    Neuron parameters (``imp``, ``v_threshold``) use ``cfg.neuron_lr`` when set. Parameters
    whose kind is in ``cfg.no_decay`` get no weight decay. Each group carries a ``name``.
    """
    from ..neuron.nodes import check_materialized

    check_materialized(model)
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    seen: set[int] = set()
    for _, p, kind in parameter_kinds(model):
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        is_neuron = kind in ("imp", "v_threshold")
        decay = kind not in cfg.no_decay and cfg.weight_decay > 0
        groups.setdefault((is_neuron, decay), []).append(p)
    param_groups = []
    for (is_neuron, decay), params in sorted(groups.items()):
        lr = cfg.neuron_lr if (is_neuron and cfg.neuron_lr is not None) else cfg.lr
        name = ("neuron" if is_neuron else "network") + ("" if decay else "_no_decay")
        param_groups.append(
            {"params": params, "lr": lr, "weight_decay": cfg.weight_decay if decay else 0.0, "name": name}
        )
    if not param_groups:
        raise ValueError("the model has no trainable parameters")
    if cfg.name == "sgd":
        return torch.optim.SGD(param_groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return torch.optim.Adam(param_groups, lr=cfg.lr, betas=cfg.betas)
    return torch.optim.AdamW(param_groups, lr=cfg.lr, betas=cfg.betas)


def lr_factor(epoch: int, epochs: int, cfg: ScheduleConfig, base_lr: float) -> float:
    """Multiplier of the base learning rate for ``epoch`` (0-based)."""
    w = cfg.warmup_epochs
    if epoch < w:
        return cfg.warmup_start_factor + (1 - cfg.warmup_start_factor) * epoch / w
    if cfg.name == "constant":
        return 1.0
    if cfg.name == "step":
        return cfg.gamma ** ((epoch - w) // cfg.step_size)
    span = max(1, epochs - w)
    min_f = cfg.min_lr / base_lr if base_lr > 0 else 0.0
    return min_f + (1 - min_f) * 0.5 * (1 + math.cos(math.pi * (epoch - w) / span))


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, epochs: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepped once per epoch; each group scales its own base rate."""
    lambdas = [(lambda e, base=g["lr"]: lr_factor(e, epochs, cfg, base)) for g in optimizer.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
