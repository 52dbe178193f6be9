"""The engine draws its curves once, at the end of a run, not after every epoch."""

from spikeforge.train.config import load_config, resolve_config_path
from spikeforge.train.engine import train


def test_curves_are_drawn_at_the_end_only(tmp_path):
    overrides = ["epochs=2", "run.max_steps_per_epoch=2", "model.options.widths=[4,8]"]
    cfg = load_config(resolve_config_path(None), overrides)
    run_dir = tmp_path / "run"
    seen = []
    train(cfg, run_dir=run_dir, callbacks=[lambda e, r: seen.append((run_dir / "curves.png").exists())], verbose=False)
    assert seen == [False, False]
    assert (run_dir / "curves.png").is_file() and (run_dir / "accuracy_per_step.png").is_file()
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2
