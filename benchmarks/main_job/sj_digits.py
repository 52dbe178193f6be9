"""The main job written as a SpikingJelly user would: digits, a small conv SNN, same schedule.

SpikeForge's embedded default (``spikeforge train``) against this script is the main-job
benchmark (``benchmarks/bench_main_job.py``). The network is ``digits_convnet`` with its
model defaults (``--widths 32 64``; SpikeForge's tuned default uses 24/48) built from
SpikingJelly 2.0 layers: conv3x3(1->32)+BN+LIF, conv3x3(32->64)+BN+LIF, AvgPool2d(2),
flatten, linear, multi-step (``step_mode="m"``), input repeated over ``T`` steps. Same
data split (scikit-learn digits, stratified 80/20, seed 0), batch size, optimiser,
learning-rate schedule, label smoothing, epochs, thread count and per-epoch evaluation as
the SpikeForge config. SpikingJelly has no learnable initial potential and no LTS loss, so it trains its
usual way: cross-entropy (same label smoothing) of the time-averaged output. Prints one JSON line at the end:
``{"test_acc": ..., "seconds": ...}``.
"""

from __future__ import annotations

import argparse
import json
import time

T0 = time.perf_counter()


def build_parser() -> argparse.ArgumentParser:
    """The script's options; their defaults mirror ``spikeforge/configs/digits_imp_lts.yaml``
    (``tests/test_bench_main_job.py`` checks that they do), except the widths (see above)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--T", type=int, default=4)
    parser.add_argument("--lr", type=float, default=7e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--tau", type=float, default=2.0)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--widths", type=int, nargs=2, default=[32, 64], help="channels of the two conv layers")
    return parser


def main() -> None:
    args = build_parser().parse_args()

    import numpy as np
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from spikingjelly.activation_based import functional, layer, neuron, surrogate
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    x_tr, x_te, y_tr, y_te = train_test_split(x, digits.target, test_size=0.2, stratify=digits.target, random_state=0)
    train = torch.utils.data.TensorDataset(torch.from_numpy(x_tr), torch.from_numpy(y_tr).long())
    test = torch.utils.data.TensorDataset(torch.from_numpy(x_te), torch.from_numpy(y_te).long())
    train_loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True, drop_last=True)
    test_loader = torch.utils.data.DataLoader(test, batch_size=256)

    def lif() -> nn.Module:
        return neuron.LIFNode(tau=args.tau, v_reset=None, surrogate_function=surrogate.ATan(), detach_reset=False)

    c1, c2 = args.widths
    net = nn.Sequential(
        layer.Conv2d(1, c1, 3, padding=1, bias=False),
        layer.BatchNorm2d(c1),
        lif(),
        layer.Conv2d(c1, c2, 3, padding=1, bias=False),
        layer.BatchNorm2d(c2),
        lif(),
        layer.AvgPool2d(2),
        layer.Flatten(),
        layer.Linear(c2 * 4 * 4, 10),
    )
    functional.set_step_mode(net, "m")
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)

    acc = 0.0
    for _epoch in range(args.epochs):
        net.train()
        for xb, yb in train_loader:
            out = net(xb.unsqueeze(0).repeat(args.T, 1, 1, 1, 1)).mean(0)
            loss = F.cross_entropy(out, yb, label_smoothing=args.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            functional.reset_net(net)
        sched.step()
        net.eval()
        correct = 0
        with torch.no_grad():
            for xb, yb in test_loader:
                out = net(xb.unsqueeze(0).repeat(args.T, 1, 1, 1, 1)).mean(0)
                correct += (out.argmax(1) == yb).sum().item()
                functional.reset_net(net)
        acc = correct / len(test)
        print(f"epoch {_epoch + 1}: test acc {100 * acc:.2f}%", flush=True)
    print(json.dumps({"test_acc": acc, "seconds": time.perf_counter() - T0}))


if __name__ == "__main__":
    main()
