"""The registry and the options dataclasses: one registration place, options checked before any data is read."""

from __future__ import annotations

import dataclasses

import pytest

from spikeforge.data import DATASETS, build_dataset, check_options, dataset_info
from spikeforge.data.datasets import nmnist
from spikeforge.data.events import FrameOptions, build_event_dataset
from tests.test_data_datasets import nmnist_tree

EVENT_CAMERA = ("nmnist", "ncaltech101", "dvs128_gesture", "cifar10_dvs", "sim_event_digits")


def test_every_event_camera_dataset_takes_the_frame_options():
    fields = sorted(f.name for f in dataclasses.fields(FrameOptions))
    for name in EVENT_CAMERA:
        info = dataset_info(name)
        assert issubclass(info.options_type, FrameOptions) and info.options() == fields, name
    assert dataset_info("sim_event_digits").defaults()["cache"] is False
    assert dataset_info("nmnist").defaults()["cache"] is True
    assert {dataset_info(n).default_T for n in ("nmnist", "dvs128_gesture", "shd")} == {10, 16, 100}


def test_every_builtin_has_its_layout_beside_it():
    dataset_info("digits")
    on_disk = [n for n, info in DATASETS.items() if info.needs_root]
    assert set(on_disk) >= {"nmnist", "ncaltech101", "dvs128_gesture", "cifar10_dvs", "shd", "cifar10", "imagenet"}
    assert all(DATASETS[n].layout is not None for n in on_disk)
    assert DATASETS["mnist1d_static"].kind == "static"  # registered with the built-ins, usable by `train`


def test_mnist1d_static_items():
    ds = build_dataset("mnist1d_static", "test")
    x, y = ds[0]
    assert x.shape == (40,) and 0 <= y < 10 and len(ds) == 1000


def test_options_are_checked_without_reading_data():
    check_options("nmnist", {"size": [48, 48], "split_by": "time"})
    with pytest.raises(ValueError, match=r"dataset 'nmnist' has no option \['sise'\]; allowed: \["):
        check_options("nmnist", {"sise": 48})
    with pytest.raises(ValueError, match="split_by must be one of"):
        check_options("cifar10_dvs", {"split_by": "frames"})
    with pytest.raises(ValueError, match="size must be a positive int"):
        check_options("dvs128_gesture", {"size": [48]})
    with pytest.raises(ValueError, match="policy must be one of"):
        check_options("nmnist", {"policy": "autoaugment"})
    with pytest.raises(ValueError, match="duration must be > 0"):
        check_options("shd", {"duration": 0})
    with pytest.raises(ValueError, match="unknown dataset"):
        check_options("mnist", {})


def test_frame_options_are_frozen_and_normalised():
    options = FrameOptions(size=48)
    assert options.size == (48, 48)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.size = 32  # type: ignore[misc]


def test_a_new_option_keys_the_frame_cache(tmp_path):
    """An option added to FrameOptions is part of the frame cache key unless declared read-time."""

    @dataclasses.dataclass(frozen=True)
    class WithExtra(FrameOptions):
        extra: int = 0

    root = str(nmnist_tree(tmp_path))
    samples = nmnist.nmnist_samples(root, "test")

    def cache_dir(**kw):
        options = WithExtra(workers=1, **kw)
        ds = build_event_dataset("nmnist", root, "test", 2, options, samples, nmnist.read_nmnist, nmnist.SENSOR)
        return ds.cache.directory

    assert cache_dir(extra=1) != cache_dir(extra=2)
    assert cache_dir(extra=1) == cache_dir(extra=1, binary=True, augment=True)  # read-time options share it
