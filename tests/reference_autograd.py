"""An independent per-step neuron written for the tests only.

It does not use spikeforge's custom autograd: each spike is built with the
straight-through identity ``S = H(u) + P(u) - P(u).detach()``, where ``P`` is the
antiderivative of the surrogate, so autograd alone produces ``dS/du = g(u)``.
"""

import math

import torch


def primitive(name: str, p: dict, u: torch.Tensor) -> torch.Tensor:
    """Antiderivative P of the surrogate g (P' = g)."""
    if name == "atan":
        a = p.get("alpha", 2.0)
        return torch.atan(math.pi / 2 * a * u) / math.pi
    if name == "sigmoid":
        return torch.sigmoid(p.get("alpha", 4.0) * u)
    if name == "triangle":
        g = p.get("gamma", 1.0)
        left = (u + g).square() / (2 * g * g)
        right = 1 - (g - u).square() / (2 * g * g)
        return torch.where(u < -g, 0 * u, torch.where(u < 0, left, torch.where(u < g, right, 0 * u + 1)))
    if name == "rectangle":
        w = p.get("width", 1.0)
        return torch.where(u.abs() < w / 2, u / w, 0 * u)
    if name == "exponential":
        s, tau = p.get("scale", 1.5), p.get("tau", 3.75)
        return torch.where(u < 0, s * torch.exp(u / tau), s * (2 - torch.exp(-u / tau)))
    raise KeyError(name)


def spike(name, p, u):
    prim = primitive(name, p, u)
    return (u >= 0).to(u.dtype) + (prim - prim.detach())


def neuron(x, kind, name, p, theta, v0, *, v_reset, detach_reset, tau=2.0, decay_input=True, a_i=0.75, a_v=0.97):
    """Returns spikes [T, ...] and the final V."""
    v = v0 + torch.zeros_like(x[0])
    i = torch.zeros_like(x[0])
    vr = 0.0 if v_reset is None else v_reset
    out = []
    for t in range(x.shape[0]):
        if kind == "if":
            h = v + x[t]
        elif kind == "lif":
            h = v + (x[t] - (v - vr)) / tau if decay_input else v - (v - vr) / tau + x[t]
        else:
            i = a_i * i + x[t]
            h = vr + a_v * (v - vr) + i
        s = spike(name, p, h - theta)
        sr = s.detach() if detach_reset else s
        v = h - theta * sr if v_reset is None else h * (1 - sr) + v_reset * sr
        out.append(s)
    return torch.stack(out), v
