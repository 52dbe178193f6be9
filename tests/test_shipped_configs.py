"""Every shipped config loads, builds its model, loss and optimiser, and takes one step on fake data."""

from pathlib import Path

import pytest
import torch

from spikeforge.data.registry import dataset_info
from spikeforge.neuron import materialize
from spikeforge.train.builders import build_loss_from_config, build_model_from_config, encode_batch, encoder_name
from spikeforge.train.config import CONFIG_DIR, load_config, shipped_configs
from spikeforge.train.optim import build_optimizer

CONFIGS = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def fake_sample_shape(cfg) -> tuple[int, ...]:
    """Shape of one sample as the dataset would yield it (static: [C,H,W]; sequence: [T, ...])."""
    name, opts, T = cfg.data.name, cfg.data.options, cfg.T
    size = opts.get("size")
    if name in ("cifar10", "cifar100"):
        return (3, 32, 32)
    if name in ("imagenet", "imagenet100"):
        return (3, 32, 32)  # the SEW-ResNets pool adaptively; 224x224 only costs CI time
    if name == "digits":
        return (1, 8, 8)
    if name == "mnist1d":
        return (40, opts.get("window", 1))
    if name == "shd":
        return (T, 700)
    native = {
        "nmnist": (34, 34),
        "sim_event_digits": (34, 34),
        "dvs128_gesture": (128, 128),
        "cifar10_dvs": (128, 128),
        "ncaltech101": (180, 240),
    }[name]
    hw = native if size is None else (size, size) if isinstance(size, int) else tuple(size)
    if cfg.model.name == "vgg11_128":
        hw = (32, 32)  # global average pooling head: any size works, 128x128 only costs CI time
    return (T, 2, *hw)


def test_configs_are_listed_with_descriptions():
    rows = dict(shipped_configs())
    assert set(rows) == set(CONFIGS) and len(rows) >= 60
    assert all(rows.values()), [n for n, d in rows.items() if not d]


@pytest.mark.parametrize("name", CONFIGS)
def test_config_builds_and_steps(name):
    torch.manual_seed(0)
    cfg = load_config(CONFIG_DIR / f"{name}.yaml")
    info = dataset_info(cfg.data.name)
    model = build_model_from_config(cfg, info.num_classes)
    loss_fn = build_loss_from_config(cfg)
    encoder = encoder_name(cfg, info)
    x = torch.rand(2, *fake_sample_shape(cfg))
    if info.kind == "sequence" and cfg.data.name != "mnist1d":
        x = (x > 0.8).float()  # event frames / spike bins
    y = torch.tensor([0, info.num_classes - 1])
    inp = encode_batch(x, encoder, cfg.T)
    materialize(model, inp[:, :1])
    opt = build_optimizer(model, cfg.optim)
    out = model(inp)
    assert out.shape == (cfg.T, 2, info.num_classes)
    loss = loss_fn(out, y)
    assert torch.isfinite(loss)
    loss.backward()
    opt.step()


def test_paper_numbers_are_in_the_headers():
    text = Path(CONFIG_DIR / "imagenet1k_sew50_lts.yaml").read_text()
    assert "71.24%" in text
    assert "99.21%" in (CONFIG_DIR / "rouser_nmnist_learned_threshold.yaml").read_text()
