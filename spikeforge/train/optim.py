"""Optimiser with parameter groups (SGD, Adam, AdamW, LAMB), and learning-rate schedules.

:class:`Lamb` is LAMB (You et al., "Large Batch Optimization for Deep Learning: Training
BERT in 76 minutes", ICLR 2020, Algorithm 2) in the form of timm / mmpretrain's ``Lamb``,
which the official CIFAR runs of Shen et al. use (the rsb-a2 recipe). PyTorch has no LAMB;
``pytorch-optimizer``'s ``Lamb`` differs from the official one (no bias correction by
default, a trust ratio on every tensor including the no-decay groups, weight norms clamped
at 10), so SpikeForge states the official update here, tested against a hand computation.

Schedules are functions of the (fractional) epoch, stepped once per iteration: the cosine /
step part changes at epoch boundaries, the linear warm-up either per epoch or, with
``warmup_per_iteration``, every iteration (mmpretrain's ``convert_to_iter_based``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from .config import OptimConfig, ScheduleConfig

__all__ = ["Lamb", "build_optimizer", "build_scheduler", "lr_factor", "parameter_kinds"]

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)


def parameter_kinds(model: nn.Module) -> Iterator[tuple[str, nn.Parameter, str]]:
    """Yield ``(name, param, kind)`` with kind a neuron parameter's group (``imp`` | ``v_threshold`` | PLIF's ``tau``,
    as the neuron says: :meth:`~spikeforge.neuron.nodes.BaseNode.neuron_parameters`) or ``te`` | ``norm`` |
    ``bias`` | ``weight``."""
    from ..neuron.nodes import is_neuron

    for mod_name, module in model.named_modules():
        neuron_groups = {p_name: group for p_name, _, group in module.neuron_parameters()} if is_neuron(module) else {}
        for p_name, p in module.named_parameters(recurse=False):
            name = f"{mod_name}.{p_name}" if mod_name else p_name
            if p_name in neuron_groups:
                kind = neuron_groups[p_name]
            elif p_name == "te":
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

    Neuron parameters (those a neuron lists: ``imp``, ``v_threshold``, PLIF's ``w``) use ``cfg.neuron_lr`` when
    set. Parameters whose kind is in ``cfg.no_decay`` get no weight decay. Each group carries a ``name``.
    """
    from ..neuron.nodes import check_materialized, is_neuron

    check_materialized(model)
    neuron_params = {id(p) for m in model.modules() if is_neuron(m) for _, p, _ in m.neuron_parameters()}
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    seen: set[int] = set()
    for _, p, kind in parameter_kinds(model):
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        in_neuron = id(p) in neuron_params
        decay = kind not in cfg.no_decay and cfg.weight_decay > 0
        groups.setdefault((in_neuron, decay), []).append(p)
    param_groups = []
    for (in_neuron, decay), params in sorted(groups.items()):
        lr = cfg.neuron_lr if (in_neuron and cfg.neuron_lr is not None) else cfg.lr
        name = ("neuron" if in_neuron else "network") + ("" if decay else "_no_decay")
        param_groups.append(
            {"params": params, "lr": lr, "weight_decay": cfg.weight_decay if decay else 0.0, "name": name}
        )
    if not param_groups:
        raise ValueError("the model has no trainable parameters")
    if cfg.name == "sgd":
        return torch.optim.SGD(param_groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return torch.optim.Adam(param_groups, lr=cfg.lr, betas=cfg.betas)
    if cfg.name == "lamb":
        return Lamb(param_groups, lr=cfg.lr, betas=cfg.betas)
    return torch.optim.AdamW(param_groups, lr=cfg.lr, betas=cfg.betas)


class Lamb(torch.optim.Optimizer):
    """LAMB, as timm's / mmpretrain's ``Lamb`` (the official CIFAR recipe of Shen et al.).

    Per step ``t``, with ``g`` the gradients divided by ``max(1, ||g_all|| / max_grad_norm)``
    (the global norm over every parameter; ``max_grad_norm=None`` disables it)::

        m = beta1 * m + (1 - beta1) * g            v = beta2 * v + (1 - beta2) * g^2
        r = (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
        u = r + weight_decay * w
        w = w - lr * phi * u,   phi = ||w|| / ||u||  (1 where either norm is 0)

    ``phi`` (the layer-wise trust ratio) applies only in groups with ``weight_decay > 0`` (or
    with ``always_adapt``); no-decay groups (biases, norms, neuron parameters) take the plain
    Adam step, as in timm. ``trust_clip`` caps ``phi`` at 1.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.01,
        max_grad_norm: float | None = 1.0,
        trust_clip: bool = False,
        always_adapt: bool = False,
    ) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Lamb: invalid lr {lr}, betas {betas}, eps {eps} or weight_decay {weight_decay}")
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, trust_clip=trust_clip, always_adapt=always_adapt
        )
        super().__init__(params, defaults)
        self.max_grad_norm = max_grad_norm

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        if not grads:
            return loss
        clip = torch.ones((), device=grads[0].device)
        if self.max_grad_norm is not None:
            total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
            clip = torch.clamp(total / self.max_grad_norm, min=1.0)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad / clip.to(p.grad.dtype)
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (v / (1 - beta2**t)).sqrt_().add_(group["eps"])
                update = (m / (1 - beta1**t)).div_(denom)
                wd = group["weight_decay"]
                if wd != 0:
                    update.add_(p, alpha=wd)
                if wd != 0 or group["always_adapt"]:
                    w_norm, u_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(update)
                    one = torch.ones_like(w_norm)
                    ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, one)
                    if group["trust_clip"]:
                        ratio = torch.minimum(ratio, one)
                    update.mul_(ratio)
                p.add_(update, alpha=-group["lr"])
        return loss


def lr_factor(epoch: float, epochs: int, cfg: ScheduleConfig, base_lr: float) -> float:
    """Multiplier of the base learning rate at ``epoch`` (0-based, fractional within an epoch).

    The warm-up is linear in the fractional epoch when ``cfg.warmup_per_iteration``, else in
    the whole epoch; everything after it changes at epoch boundaries only.
    """
    w = cfg.warmup_epochs
    if epoch < w:
        e = epoch if cfg.warmup_per_iteration else math.floor(epoch)
        return cfg.warmup_start_factor + (1 - cfg.warmup_start_factor) * e / w
    epoch = math.floor(epoch)
    if cfg.name == "constant":
        return 1.0
    if cfg.name == "step":
        return cfg.gamma ** ((epoch - w) // cfg.step_size)
    span = max(1, epochs - w)
    min_f = cfg.min_lr / base_lr if base_lr > 0 else 0.0
    return min_f + (1 - min_f) * 0.5 * (1 + math.cos(math.pi * (epoch - w) / span))


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, epochs: int, steps_per_epoch: int = 1
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepped once per iteration (``steps_per_epoch`` per epoch; 1 = once per epoch).

    Each group scales its own base rate by :func:`lr_factor` of the fractional epoch
    ``step / steps_per_epoch``.
    """
    n = max(1, int(steps_per_epoch))

    def scale(base: float) -> Callable[[int], float]:
        return lambda step: lr_factor(step / n, epochs, cfg, base)

    lambdas = [scale(g["lr"]) for g in optimizer.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
