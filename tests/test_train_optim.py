"""LAMB against a hand computation, and the per-iteration warm-up of the schedules."""

import math

import pytest
import torch
from torch import nn

from spikeforge.train.config import OptimConfig, ScheduleConfig
from spikeforge.train.optim import Lamb, build_optimizer, build_scheduler, lr_factor


def _param(values):
    return nn.Parameter(torch.tensor(values, dtype=torch.float64))


def test_lamb_first_step_matches_a_hand_computation():
    # w = (3, 4), ||w|| = 5; g = (0.6, 0.8), ||g|| = 1 (= max_grad_norm: no clipping).
    # Step 1: m_hat = g, v_hat = g^2, r = g / (|g| + eps); u = r + wd * w; phi = ||w|| / ||u||.
    w = _param([3.0, 4.0])
    w.grad = torch.tensor([0.6, 0.8], dtype=torch.float64)
    opt = Lamb([w], lr=0.01, weight_decay=0.1, eps=1e-6)
    opt.step()
    r = [0.6 / (0.6 + 1e-6), 0.8 / (0.8 + 1e-6)]
    u = [r[0] + 0.1 * 3.0, r[1] + 0.1 * 4.0]
    phi = 5.0 / math.hypot(*u)
    expected = [3.0 - 0.01 * phi * u[0], 4.0 - 0.01 * phi * u[1]]
    torch.testing.assert_close(w.detach(), torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)
    assert expected[0] == pytest.approx(2.96598, abs=1e-5)  # 3 - 0.01 * 2.6171 * 1.3


def test_lamb_second_step_uses_bias_corrected_moments():
    w = _param([1.0, -2.0])
    opt = Lamb([w], lr=0.1, betas=(0.9, 0.99), weight_decay=0.0, eps=0.0, max_grad_norm=None)
    grads = [torch.tensor([0.5, 0.1]), torch.tensor([-0.2, 0.3])]
    for g in grads:
        w.grad = g.to(torch.float64)
        opt.step()
    # No weight decay: no trust ratio, the step is Adam's: lr * m_hat / sqrt(v_hat).
    w_hand = [1.0, -2.0]
    for i in range(2):
        g1, g2 = float(grads[0][i]), float(grads[1][i])
        m1, v1 = 0.1 * g1, 0.01 * g1 * g1
        step1 = (m1 / 0.1) / math.sqrt(v1 / 0.01)
        m2, v2 = 0.9 * m1 + 0.1 * g2, 0.99 * v1 + 0.01 * g2 * g2
        step2 = (m2 / (1 - 0.9**2)) / math.sqrt(v2 / (1 - 0.99**2))
        w_hand[i] -= 0.1 * (step1 + step2)
    torch.testing.assert_close(w.detach(), torch.tensor(w_hand, dtype=torch.float64))


def test_lamb_clips_the_global_gradient_norm_and_spares_no_decay_groups():
    a, b = _param([1.0, 1.0]), _param([2.0])
    opt = Lamb([{"params": [a], "weight_decay": 0.0}, {"params": [b], "weight_decay": 0.5}], lr=0.1)
    a.grad = torch.tensor([3.0, 0.0], dtype=torch.float64)
    b.grad = torch.tensor([4.0], dtype=torch.float64)  # global norm 5 -> grads / 5
    opt.step()
    state = opt.state[a]
    torch.testing.assert_close(state["exp_avg"], torch.tensor([0.1 * 0.6, 0.0], dtype=torch.float64))
    # group a (no decay): plain Adam step of 0.1 on the non-zero coordinate, nothing on the zero one.
    torch.testing.assert_close(a.detach(), torch.tensor([1.0 - 0.1 * 0.6 / (0.6 + 1e-6), 1.0], dtype=torch.float64))
    # group b: u = 0.8 / (0.8 + eps) + 0.5 * 2, phi = |2| / |u|: the step is lr * ||w|| = 0.2.
    torch.testing.assert_close(b.detach(), torch.tensor([2.0 - 0.2], dtype=torch.float64))


def test_build_optimizer_makes_lamb_with_no_decay_groups():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    opt = build_optimizer(model, OptimConfig(name="lamb", lr=0.005, weight_decay=0.02))
    assert isinstance(opt, Lamb)
    decays = {g["name"]: g["weight_decay"] for g in opt.param_groups}
    assert decays == {"network": 0.02, "network_no_decay": 0.0}


def test_per_iteration_warmup_rises_every_step_and_cosine_changes_per_epoch():
    cfg = ScheduleConfig(
        name="cosine", warmup_epochs=2, warmup_start_factor=1e-4, min_lr=0.0, warmup_per_iteration=True
    )
    w = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=1.0)
    sched = build_scheduler(opt, cfg, epochs=6, steps_per_epoch=4)
    lrs = []
    for _ in range(24):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # Warm-up: linear in the iteration (mmpretrain LinearLR, convert_to_iter_based), 8 steps.
    expected_warmup = [1e-4 + (1 - 1e-4) * k / 8 for k in range(8)]
    assert lrs[:8] == pytest.approx(expected_warmup)
    # Then cosine over the remaining 4 epochs, constant within an epoch.
    for epoch in range(2, 6):
        f = 0.5 * (1 + math.cos(math.pi * (epoch - 2) / 4))
        assert lrs[4 * epoch : 4 * epoch + 4] == pytest.approx([f] * 4)


def test_per_epoch_warmup_is_unchanged_by_iteration_stepping():
    cfg = ScheduleConfig(name="cosine", warmup_epochs=2, warmup_start_factor=0.1)
    assert [lr_factor(e + k / 4, 6, cfg, 1.0) for e in range(2) for k in range(4)] == pytest.approx(
        [0.1] * 4 + [0.55] * 4
    )
