"""The main-job benchmark compares like with like: the SpikingJelly script's defaults mirror the config."""

import importlib.util
from pathlib import Path

from spikeforge.train.config import load_config

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "main_job" / "sj_digits.py"


def test_spikingjelly_script_defaults_mirror_the_default_job():
    spec = importlib.util.spec_from_file_location("sj_digits", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines functions only: torch and SpikingJelly load inside main()
    args = module.build_parser().parse_args([])
    cfg = load_config("digits_imp_lts")
    mirrored = {
        "epochs": (args.epochs, cfg.epochs),
        "T": (args.T, cfg.T),
        "batch_size": (args.batch_size, cfg.data.batch_size),
        "lr": (args.lr, cfg.optim.lr),
        "weight_decay": (args.weight_decay, cfg.optim.weight_decay),
        "tau": (args.tau, cfg.neuron["tau"]),
        "label_smoothing": (args.label_smoothing, cfg.loss.options["label_smoothing"]),
        "threads": (args.threads, cfg.run.threads),
        "seed": (args.seed, cfg.seed),
    }
    assert {k: script for k, (script, _) in mirrored.items()} == {k: config for k, (_, config) in mirrored.items()}
    assert cfg.schedule.name == "cosine" and cfg.optim.name == "adamw"  # the script's CosineAnnealingLR and AdamW
