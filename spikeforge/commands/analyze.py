"""``spikeforge analyze <analysis>``: the papers' analyses.

Sub-commands:

* ``pattern-mapping``: reachable input -> output spike-pattern mappings of an IF neuron (Fig 3);
* ``membrane``: membrane potential / spikes vs IMP and input intensity (Fig 1);
* ``imp-overhead``: neuron forward/backward time with and without learnable IMP / threshold (Fig 6);
* ``layer-curves``: per-layer curves over epochs from a run's ``metrics.jsonl`` (Rouser Figs 3-5);
* ``timestep-accuracy``: a trained model's accuracy at each time step alone and as a running mean (Fig 4);
* ``convergence``: SDT / TET / TET-S / LTS trained with the same budget at several T (Fig 5);
* ``threshold-grid``: fixed vs learned thresholds over a grid of initial thresholds (Rouser).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Any

import torch

from ..command_registry import add_command_parser, register_command
from ..errors import MissingFileError, SpikeForgeError, UserError
from ..neuron.kind_spec import NEURON_KINDS

__all__ = ["add_analyze_parser", "run_analyze"]

DEFAULT_OUT = Path("runs") / "analyze"


def _linspace(text: str) -> torch.Tensor:
    """``"start:stop:num"`` -> ``linspace``; ``"a,b,c"`` -> those values."""
    try:
        if ":" in text:
            start, stop, num = text.split(":")
            if int(num) < 1:
                raise ValueError
            return torch.linspace(float(start), float(stop), int(num), dtype=torch.float64)
        return torch.tensor([float(v) for v in text.split(",") if v.strip()], dtype=torch.float64)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:STOP:NUM or comma-separated numbers, got {text!r}") from None


def _int_list(text: str) -> list[int]:
    """``"2^8,4096"`` -> ``[256, 4096]``."""
    try:
        values = []
        for item in (v.strip() for v in text.split(",") if v.strip()):
            base, _, exp = item.partition("^")
            values.append(int(base) ** int(exp) if exp else int(base))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers (2^k allowed), got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _v_reset(text: str) -> float | None:
    return None if text.lower() in ("none", "soft") else float(text)


def _configure(p: argparse.ArgumentParser) -> None:
    """The ``analyze`` sub-commands and their arguments."""
    sub = p.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")

    # One add_argument call per option (argparse declarations, alike in shape between sub-commands).
    pm = sub.add_parser("pattern-mapping", help="IF-neuron input->output spike-pattern mappings (Shen et al. Fig 3)")
    pm.add_argument(
        "--imp",
        action="append",
        help="'zero', 'sweep', a number, or a checkpoint .pt whose learned IMPs are used; repeatable "
        "(default: zero, 0.25, sweep)",
    )
    pm.add_argument("--weights", type=_linspace, help="input weights START:STOP:NUM or a,b,c (default: the grid's)")
    pm.add_argument("--T", type=int, default=4, help="time steps (default 4)")
    pm.add_argument("--threshold", type=float, default=1.0, help="firing threshold (default 1)")
    pm.add_argument("--max-imps", type=int, default=100_000, help="at most this many distinct learned IMPs")
    pm.add_argument("--out", type=Path, default=DEFAULT_OUT / "pattern-mapping")

    mb = sub.add_parser("membrane", help="membrane potential and spikes vs IMP and input (Shen et al. Fig 1)")
    mb.add_argument("--neuron", choices=NEURON_KINDS.names(), default="if")
    mb.add_argument("--tau", type=float, default=2.0, help="LIF time constant")
    mb.add_argument("--v-reset", type=_v_reset, default=None, help="hard-reset potential, or 'none' (soft reset)")
    mb.add_argument("--threshold", type=float, help="firing threshold (default: the neuron's)")
    mb.add_argument("--T", type=int, default=32)
    mb.add_argument("--imps", type=_linspace, help="IMP grid START:STOP:NUM, e.g. --imps=-1:1:41 (the default)")
    mb.add_argument("--intensities", type=_linspace, help="input grid START:STOP:NUM (default 0:0.5:51)")
    mb.add_argument("--fig1-imps", type=_linspace, help="Fig 1a IMPs (default k/12, k = 0..6)")
    mb.add_argument("--fig1-input", type=float, default=1 / 12, help="Fig 1a constant input (default 1/12)")
    mb.add_argument("--fig1-inputs", type=_linspace, help="Fig 1b inputs (default just below 1/12 .. 1/6)")
    mb.add_argument("--fig1-imp", type=float, default=0.0, help="Fig 1b IMP (default 0)")
    mb.add_argument("--out", type=Path, default=DEFAULT_OUT / "membrane")

    ov = sub.add_parser("imp-overhead", help="neuron time with/without learnable IMP and threshold (Shen et al. Fig 6)")
    ov.add_argument("--full", action="store_true", help="the paper's grids (N 2^8..2^20, T 2..32); default quick")
    ov.add_argument("--neurons", type=_int_list, help="neuron counts, e.g. 2^8,2^12")
    ov.add_argument("--steps", type=_int_list, help="time steps, e.g. 2,4,8")
    ov.add_argument("--variants", help="comma-separated subset of baseline,imp,threshold,imp+threshold")
    ov.add_argument("--neuron", choices=NEURON_KINDS.names(), default="if")
    ov.add_argument("--backend", default="torch", help="neuron backend passed through (torch, auto, a fused one)")
    ov.add_argument("--repeats", type=int)
    ov.add_argument("--warmup", type=int, default=2)
    ov.add_argument("--device", default="cpu")
    ov.add_argument("--threads", type=int, help="torch CPU threads during the run")
    ov.add_argument("--out", type=Path, default=DEFAULT_OUT / "imp-overhead")

    lc = sub.add_parser("layer-curves", help="per-layer metric curves over epochs from metrics.jsonl")
    lc.add_argument("metrics", type=Path, help="a metrics.jsonl file or a run folder containing one")
    lc.add_argument(
        "--metric",
        action="append",
        help="key suffix to plot, repeatable (default: dead_fraction_sample, dead_fraction, train_dead_fraction, "
        "firing_rate, weight_change where present)",
    )
    lc.add_argument("--out", type=Path, help="output folder (default: <run folder>/plots)")

    ta = sub.add_parser("timestep-accuracy", help="accuracy of a trained model at each time step (Shen et al. Fig 4)")
    ta.add_argument("target", metavar="RUN_DIR|CHECKPOINT")
    ta.add_argument("--checkpoint", choices=["best", "last"], default="best", help="which checkpoint of a run folder")
    ta.add_argument("--data", metavar="ROOT", help="dataset root (overrides data.root)")
    ta.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    ta.add_argument("--out", type=Path, help="output folder (default: the run folder)")

    cv = sub.add_parser(
        "convergence", help="SDT / TET / TET-S / LTS with the same budget at several T (Shen et al. Fig 5)"
    )
    _add_sweep_options(cv, "base config (YAML or shipped name; default the digits job)")
    cv.add_argument("--T", type=int, nargs="+", help="time steps (default 1 2 4)")
    cv.add_argument("--losses", nargs="+", help="losses to compare (default sdt tet tet_s lts)")
    cv.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1 2; quick: 0 1)")
    cv.add_argument("--quick", action="store_true", help=f"a few minutes on a CPU: {_quick_text()}")
    cv.add_argument("--out", type=Path, default=DEFAULT_OUT / "convergence")

    tg = sub.add_parser("threshold-grid", help="fixed vs learned thresholds over a grid of initial thresholds (Rouser)")
    _add_sweep_options(tg, "base config (default: the embedded dense CUBA net on flattened digits)")
    tg.add_argument("--inits", type=float, nargs="+", help="initial thresholds (default 0.25 1.0 1.25 2.0 4.0)")
    tg.add_argument("--modes", nargs="+", choices=("fixed", "learned"), help="default both")
    tg.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0)")
    tg.add_argument("--out", type=Path, default=DEFAULT_OUT / "threshold-grid")


def _quick_text() -> str:
    from ..analysis.convergence import QUICK

    return f"{QUICK['epochs']} epochs, seeds {' '.join(map(str, QUICK['seeds']))}"


def _add_sweep_options(p: argparse.ArgumentParser, config_help: str) -> None:
    """Options shared by the training sweeps."""
    p.add_argument("--config", help=config_help)
    p.add_argument("--data", metavar="NAME", help="dataset name (sets data.name)")
    p.add_argument("--epochs", type=int, help="epochs per run (default: the config's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a base-config value")
    p.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest on a busy shared CPU)")
    p.add_argument("--rerun", action="store_true", help="retrain runs already finished in OUT/runs")


def _pattern_mapping(args: argparse.Namespace) -> dict[str, Any]:
    from ..analysis.pattern_mapping import imps_from_state_dict, plot_mappings, run_pattern_mapping
    from ..train.checkpoint import load_checkpoint

    results = []
    for spec in args.imp or ["zero", "0.25", "sweep"]:
        label = None
        if spec in ("zero", "sweep"):
            imp: Any = spec
        elif spec.endswith((".pt", ".pth")):
            path = Path(spec)
            if not path.is_file():
                raise MissingFileError(f"--imp {spec}: no such checkpoint file")
            try:  # weights only, one line naming the file for an empty, foreign or hostile one
                imp = imps_from_state_dict(load_checkpoint(path))
            except SpikeForgeError as exc:
                raise UserError(f"--imp {spec}: {exc}") from None
            label = path.stem
        else:
            try:
                imp = float(spec)
            except ValueError:
                raise UserError(f"--imp must be 'zero', 'sweep', a number or a .pt checkpoint, got {spec!r}") from None
        res = run_pattern_mapping(
            args.out,
            imp,
            weights=args.weights,
            T=args.T,
            v_threshold=args.threshold,
            label=label,
            max_imps=args.max_imps,
        )
        print(f"{res['title']}: {res['num_mappings']} reachable mappings ({res['mappings_per_input']:.4g} per input)")
        results.append(res)
    if len(results) > 1:
        plot_mappings(results, args.out / "pattern_mapping.png")
    summary = {r["label"]: {"num_mappings": r["num_mappings"], "title": r["title"]} for r in results}
    (args.out / "pattern_mapping_summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _membrane(args: argparse.Namespace) -> dict[str, Any]:
    from ..analysis.membrane import run_membrane

    neuron: dict[str, Any] = {"type": args.neuron, "v_reset": args.v_reset}
    if args.neuron == "lif":
        neuron["tau"] = args.tau
    if args.threshold is not None:
        neuron["v_threshold"] = args.threshold
    fig1: dict[str, Any] = {"fig1_intensity": args.fig1_input, "fig1_imp": args.fig1_imp}
    if args.fig1_imps is not None:
        fig1["fig1_imps"] = args.fig1_imps.tolist()
    if args.fig1_inputs is not None:
        fig1["fig1_intensities"] = args.fig1_inputs.tolist()
    res = run_membrane(args.out, T=args.T, neuron=neuron, imps=args.imps, intensities=args.intensities, **fig1)
    print(f"first spike step vs IMP (Fig 1a): {res['fig1_first_spike_vs_imp']}")
    print(f"first spike step vs input (Fig 1b): {res['fig1_first_spike_vs_intensity']}")
    return res


def _overhead(args: argparse.Namespace) -> dict[str, Any]:
    from ..analysis.overhead import VARIANTS, run_overhead

    variants = tuple(v.strip() for v in args.variants.split(",")) if args.variants else tuple(VARIANTS)
    res = run_overhead(
        args.out,
        quick=not args.full,
        neurons=args.neurons,
        steps=args.steps,
        variants=variants,
        neuron={"type": args.neuron},
        backend=args.backend,
        repeats=args.repeats,
        warmup=args.warmup,
        device=args.device,
        threads=args.threads,
    )
    for row in res["rows"]:
        if row["variant"] != "baseline":
            print(
                f"T={row['T']:>3} N={row['neurons']:>8} {row['variant']:<14} backward {row['bwd_ms']:.4f} ms "
                f"({row['bwd_overhead_pct']:+.1f}%), fwd+bwd {row['fwd_bwd_ms']:.4f} ms "
                f"({row['fwd_bwd_overhead_pct']:+.1f}%)"
            )
    return res


def _layer_curves(args: argparse.Namespace) -> dict[str, Any]:
    from ..analysis.plots import LAYER_METRICS, layer_series, load_metrics_jsonl, plot_layer_curves, with_epoch0
    from ..train.runfolder import METRICS

    path = args.metrics / METRICS if args.metrics.is_dir() else args.metrics
    if not path.is_file():
        raise MissingFileError(f"{path}: no metrics file")
    records = with_epoch0(load_metrics_jsonl(path))  # monitored runs: epoch 0 = before training
    out = args.out or path.parent / "plots"
    metrics = args.metric or [m for m in LAYER_METRICS if layer_series(records, m)]
    if not metrics:
        raise UserError(
            f"{path}: no per-layer dead_fraction / firing_rate / weight_change keys; name one with --metric"
        )
    written = {}
    for metric in metrics:
        png = out / f"layers_{metric}.png"
        plot_layer_curves(records, metric, png)
        written[metric] = str(png)
        print(f"wrote {png}")
    return written


def _timestep_accuracy(args: argparse.Namespace) -> dict[str, Any]:
    from ..analysis.timestep_accuracy import run_timestep_accuracy

    overrides = list(args.set) + ([f"data.root={args.data}"] if args.data else [])
    res = run_timestep_accuracy(args.target, args.out, which=args.checkpoint, overrides=overrides)
    print(
        f"{res['checkpoint']}: {res['dataset']} test accuracy {100 * res['acc']:.2f}% over {res['n']} samples "
        f"(readout of {res['loss']})"
    )
    print("  t:            " + " ".join(f"{t:>6}" for t in range(1, res["T"] + 1)))
    print("  step t alone: " + " ".join(f"{100 * a:5.1f}%" for a in res["acc_step"]))
    print("  mean of 1..t: " + " ".join(f"{100 * a:5.1f}%" for a in res["acc_cum"]))
    for path in res["files"].values():
        print(f"wrote {path}")
    return res


def _sweep_base(args: argparse.Namespace, default: dict[str, Any] | None) -> dict[str, Any]:
    """The base config of a sweep: ``--config`` (or ``default``, or the shipped digits job) + ``--data`` + ``--set``."""
    import copy

    from ..analysis.sweep import load_base_config, set_threads
    from ..train.config import apply_overrides

    set_threads(args.threads)
    overrides = ([f"data.name={args.data}"] if args.data else []) + list(args.set)
    if args.config is None and default is not None:
        return apply_overrides(copy.deepcopy(default), overrides)
    return load_base_config(args.config, overrides)


def _convergence(args: argparse.Namespace) -> dict[str, Any]:
    from ..analysis.convergence import LOSSES, QUICK, run_convergence

    base = _sweep_base(args, None)
    epochs = args.epochs if args.epochs is not None else (QUICK["epochs"] if args.quick else None)
    seeds = args.seeds or (list(QUICK["seeds"]) if args.quick else [0, 1, 2])
    Ts = args.T or list(QUICK["T"])
    return run_convergence(
        base, args.out, Ts=Ts, losses=args.losses or LOSSES, seeds=seeds, epochs=epochs, rerun=args.rerun
    )


def _threshold_grid(args: argparse.Namespace) -> dict[str, Any]:
    from ..analysis.threshold_grid import DEFAULT_CONFIG, DEFAULT_INITS, MODES, run_threshold_grid

    base = _sweep_base(args, DEFAULT_CONFIG)
    return run_threshold_grid(
        base,
        args.out,
        inits=args.inits or DEFAULT_INITS,
        modes=args.modes or MODES,
        seeds=args.seeds or [0],
        epochs=args.epochs,
        rerun=args.rerun,
    )


_RUNNERS = {
    "pattern-mapping": _pattern_mapping,
    "membrane": _membrane,
    "imp-overhead": _overhead,
    "layer-curves": _layer_curves,
    "timestep-accuracy": _timestep_accuracy,
    "convergence": _convergence,
    "threshold-grid": _threshold_grid,
}


def run_analyze(args: argparse.Namespace) -> int:
    """Run the chosen analysis; returns the exit status.

    User errors print one line on stderr and return 2 (re-raised when ``args.debug`` is set).
    """
    try:
        _RUNNERS[args.analysis](args)
    except SpikeForgeError as e:  # the user's faults only; anything else is a bug and keeps its traceback
        if getattr(args, "debug", False):
            raise
        print(f"spikeforge analyze {args.analysis}: error: {e}", file=sys.stderr)
        return 2
    out = getattr(args, "out", None)
    if out is not None and args.analysis not in ("layer-curves", "timestep-accuracy"):
        print(f"results in {out}")
    return 0


register_command(
    "analyze",
    help="paper analyses: pattern mapping, membrane heatmaps, IMP overhead, ...",
    configure=_configure,
    handler=run_analyze,
    tunes_allocator=True,
)
# for a parent CLI: adds the ``analyze`` sub-command to its subparsers and returns its parser
add_analyze_parser = functools.partial(add_command_parser, name="analyze")
