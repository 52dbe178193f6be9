"""One training step of whole networks: SpikeForge against the same networks with SpikingJelly neurons.

Networks (random data, SGD step, cross-entropy on the time-averaged logits):

* ``sew18``: ``sew_resnet18_cifar`` (CIFAR stem, IF with soft reset, ATan), ``T=4``, batch 32, 3x32x32;
* ``vgg11_48``: the TET-style VGG-11 for 48x48 event frames (TEBN, LIF ``tau=4/3`` without
  input decay, hard reset), ``T=10``, 2x48x48, batch ``--vgg-batch`` (default 8).

Contenders, timed round-robin in the same process (``bench_timing.interleaved_medians``):

* ``spikingjelly``: the same model object with every SpikeForge neuron replaced by the
  SpikingJelly 2.0 multi-step neuron of the same dynamics (``IFNode(v_reset=None)`` /
  ``LIFNode(tau=4/3, decay_input=False)``, ``step_mode="m"``, its CPU ``torch`` backend),
  reset after every step as SpikingJelly needs. Convolutions, BN and the rest are the
  identical PyTorch modules, so the difference is the neurons and their memory;
* ``spikeforge``: the network as SpikeForge builds it (``backend="auto"``: the fused kernels);
* ``spikeforge+channels_last``, ``spikeforge+bf16`` (``torch.autocast`` bfloat16, which the
  CPU kernels support), ``spikeforge+compile`` (``torch.compile`` of the whole model).

For each: median step time, the activation bytes (tensors autograd saves in the forward,
each storage counted once, parameters excluded) and the loss relative to fp32 eager.
Writes ``benchmarks/results/bench_end_to_end.{json,md}``. Run:
``./run python benchmarks/bench_end_to_end.py [--nets sew18,vgg11_48] [--variants ...]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_timing import interleaved_medians

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("spikingjelly", "spikeforge", "spikeforge+channels_last", "spikeforge+bf16", "spikeforge+compile")


def build(net: str, vgg_batch: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    from spikeforge.models import build_model

    torch.manual_seed(0)
    if net == "sew18":
        model = build_model("sew_resnet18_cifar", num_classes=10)
        x = torch.rand(4, 32, 3, 32, 32)
    elif net == "vgg11_48":
        model = build_model("vgg11_48", num_classes=10, T=10)
        x = (torch.rand(10, vgg_batch, 2, 48, 48) < 0.1).float()
    else:
        raise ValueError(f"unknown net {net!r}")
    y = torch.randint(0, 10, (x.shape[1],))
    return model, x, y


class SJNeuron(nn.Module):
    """A SpikingJelly multi-step neuron standing in for a SpikeForge one: ``[T, B, ...] -> spikes``."""

    def __init__(self, node: nn.Module) -> None:
        super().__init__()
        from spikingjelly.activation_based import neuron, surrogate

        dyn = node.dynamics()
        common = dict(v_threshold=node.threshold_value, v_reset=dyn.v_reset, detach_reset=dyn.detach_reset)
        if dyn.kind == "if":
            self.node = neuron.IFNode(surrogate_function=surrogate.ATan(), step_mode="m", **common)
        elif dyn.kind == "lif":
            # SpikingJelly has no triangle surrogate; the surrogate's cost is the same kind of elementwise op
            sur = surrogate.ATan() if dyn.surrogate.name == "atan" else surrogate.PiecewiseQuadratic()
            self.node = neuron.LIFNode(
                tau=dyn.tau, decay_input=dyn.decay_input, surrogate_function=sur, step_mode="m", **common
            )
        else:
            raise ValueError(f"no SpikingJelly stand-in for {dyn.kind!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.node(x)


def with_spikingjelly_neurons(model: nn.Module) -> nn.Module:
    from spikeforge.neuron import is_neuron

    for name, child in model.named_children():
        if is_neuron(child):
            setattr(model, name, SJNeuron(child))
        else:
            with_spikingjelly_neurons(child)
    return model


def activation_bytes(model: nn.Module, x: torch.Tensor, autocast) -> int:
    """Bytes of the tensors autograd saves during one forward (each storage once, parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        s = t.untyped_storage()
        if s.data_ptr() not in params and s.device.type != "meta":
            seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
        out = model(x)
    del out
    return sum(seen.values())


def make_step(variant: str, net: str, vgg_batch: int, device: torch.device):
    """``(step() -> loss, model, x, autocast, reset)`` for one contender."""
    model, x, y = build(net, vgg_batch)
    model, x, y = model.to(device), x.to(device), y.to(device)
    model.train()
    if variant == "spikingjelly":
        from spikingjelly.activation_based import functional

        model = with_spikingjelly_neurons(model)
        reset = lambda: functional.reset_net(model)  # noqa: E731
    else:
        reset = lambda: None  # noqa: E731
    autocast = contextlib.nullcontext()
    if variant.endswith("channels_last"):
        for m in model.modules():  # the 4-d weights only (TEBN's scales are 5-d)
            if isinstance(m, nn.Conv2d):
                m.to(memory_format=torch.channels_last)
        x = x.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, x.shape[:2])
    if variant.endswith("bf16"):
        autocast = torch.autocast(device.type, dtype=torch.bfloat16)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    fn = torch.compile(model) if variant.endswith("compile") else model

    def step() -> float:
        with autocast:
            out = fn(x)
            loss = nn.functional.cross_entropy(out.float().mean(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        reset()
        return loss.item()

    return step, model, x, autocast, reset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default="sew18,vgg11_48")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--vgg-batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: PyTorch's)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of timing per contender")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (SpikeForge's triton backend)")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_end_to_end")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    results: dict[str, dict] = {}
    lines = []
    for net in args.nets.split(","):
        steps, info = {}, {}
        for v in variants:
            step, model, x, autocast, reset = make_step(v, net, args.vgg_batch, device)
            first_loss = step()  # warm-up (and compilation); the loss of the first step from identical weights
            info[v] = {"first_loss": first_loss}
            if device.type == "cuda":  # the peak of one warm step: weights, optimiser state, activations
                torch.cuda.reset_peak_memory_stats(device)
                step()
                sync()
                info[v]["peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
            if not v.endswith("compile"):
                info[v]["activation_bytes"] = activation_bytes(model, x, autocast)
                reset()
            steps[v] = step
            peak = f", peak {info[v]['peak_mib']:.0f} MiB" if "peak_mib" in info[v] else ""
            print(f"{net} {v}: warmed up (first loss {first_loss:.5f}{peak})", flush=True)
        timed = interleaved_medians(steps, min_repeats=3, max_repeats=11, budget_s=args.budget, warmup=1, sync=sync)
        ref = info.get("spikeforge", {}).get("first_loss")
        base = timed["spikingjelly"][0] if "spikingjelly" in timed else None
        lines += [
            f"### {net}",
            "",
            "| contender | step (ms, median) | vs SpikingJelly | activation MiB | first loss | vs fp32 eager |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for v in variants:
            med, low, n = timed[v]
            act = info[v].get("activation_bytes")
            rel = abs(info[v]["first_loss"] - ref) / abs(ref) if ref else float("nan")
            info[v].update({"median_ms": med, "min_ms": low, "runs": n})
            lines.append(
                f"| {v} | {med:.0f} | {base / med if base else float('nan'):.2f}x | "
                f"{'-' if act is None else f'{act / 2**20:.0f}'} | {info[v]['first_loss']:.5f} | {rel:.1e} |"
            )
        lines.append("")
        results[net] = info
        print("\n".join(lines[-len(variants) - 5 :]), flush=True)
    meta = {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__}
    meta["vgg_batch"] = args.vgg_batch
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(lines) + f"\n{meta}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
