"""Per-epoch cost of ``spikeforge train`` against a hand-written loop over the same job.

Both sides train the embedded default (``configs/digits_imp_lts.yaml``: same model, data
loaders, loss, optimiser, schedule, thread count) and evaluate on the whole test set after
every epoch. The engine adds what a run folder needs: per-step accuracies, metrics files,
monitors when configured, ``last.pt``/``best.pt`` checkpoints and the progress bar logic.
An engine epoch is timed from one epoch callback to the next (so logging and checkpoint
writing are inside it); a loop epoch is the loop body. The two run in alternating
rounds, several epochs each; the first epoch of every round is dropped (warm-up).

Run: ``./run python benchmarks/bench_engine_overhead.py [--rounds 3 --epochs 4]``;
writes ``benchmarks/results/bench_engine_overhead.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
# CPU time of this process: the config trains on one thread, and on a shared machine the
# wall clock mostly measures other jobs (--wall switches to it)
_clock = time.process_time


def _config(epochs: int, overrides: list[str]):
    from spikeforge.train.config import load_config, resolve_config_path

    return load_config(resolve_config_path(None), [f"epochs={epochs}", *overrides])


def engine_epochs(cfg, out_dir: Path) -> list[float]:
    """Seconds of each ``spikeforge.train`` epoch, callback to callback."""
    from spikeforge.train.engine import train

    marks: list[float] = []
    start = _clock()

    def mark(epoch, record):
        marks.append(_clock())

    train(cfg, run_dir=out_dir / f"engine-{time.time_ns()}", callbacks=[mark], verbose=False)
    # the first interval also holds the set-up (data, model, materialize): it is the warm-up epoch
    return [b - a for a, b in zip([start, *marks[:-1]], marks, strict=True)]


def loop_epochs(cfg) -> list[float]:
    """Seconds of each epoch of a plain loop: train, then test accuracy (what a user would write)."""
    import torch

    from spikeforge import materialize
    from spikeforge.train.builders import build_data, build_loss_from_config, build_model_from_config, encode_batch
    from spikeforge.train.optim import build_optimizer, build_scheduler

    if cfg.run.threads is not None:
        torch.set_num_threads(cfg.run.threads)
    torch.manual_seed(cfg.seed)
    info, train_loader, test_loader = build_data(cfg)
    model = build_model_from_config(cfg, info.num_classes)
    loss_fn = build_loss_from_config(cfg)
    materialize(model, encode_batch(train_loader.dataset[0][0][None], "direct", cfg.T))
    optimizer = build_optimizer(model, cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.schedule, cfg.epochs)
    times = []
    for epoch in range(cfg.epochs):
        t0 = _clock()
        train_loader.sampler.set_epoch(epoch)
        model.train()
        for x, y in train_loader:
            loss = loss_fn(model(encode_batch(x, "direct", cfg.T)), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        scheduler.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += (loss_fn.readout(model(encode_batch(x, "direct", cfg.T))).argmax(-1) == y).sum().item()
        times.append(_clock() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per round and side (the first is dropped)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_engine_overhead")
    parser.add_argument("--wall", action="store_true", help="time with the wall clock instead of CPU time")
    args = parser.parse_args(argv)
    global _clock
    if args.wall:
        _clock = time.perf_counter
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch of a round is dropped)")
    cfg = _config(args.epochs, args.set)
    engine, loop = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            sides = [("loop", lambda: loop_epochs(cfg)), ("engine", lambda: engine_epochs(cfg, Path(tmp)))]
            for name, fn in sides if r % 2 == 0 else sides[::-1]:
                t = fn()[1:]
                (engine if name == "engine" else loop).extend(t)
                print(f"round {r + 1} {name:<6} epochs {', '.join(f'{s:.2f}' for s in t)} s", flush=True)
    e, lp = statistics.median(engine), statistics.median(loop)
    lines = [
        f"| | median epoch ({'wall' if args.wall else 'CPU'} s) | epochs timed |",
        "| --- | ---: | ---: |",
        f"| hand-written loop (train + test accuracy) | {lp:.3f} | {len(loop)} |",
        f"| `spikeforge train` epoch (+ per-step accuracy, logs, checkpoints) | {e:.3f} | {len(engine)} |",
        "",
        f"engine overhead per epoch: {100 * (e / lp - 1):+.1f}% ({args.rounds} alternating rounds, config "
        f"digits_imp_lts{' ' + ' '.join(args.set) if args.set else ''})",
    ]
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    data = {"engine_s": engine, "loop_s": loop, "overhead": e / lp - 1, "overrides": args.set, "wall": args.wall}
    args.out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
