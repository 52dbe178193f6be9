"""Registered datasets end to end on tiny folders in each dataset's real layout; frame cache; bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from spikeforge.data import DataFormatError, DatasetNotFoundError, build_dataset, dataset_info
from spikeforge.data.events import dataset as event_dataset_module
from tests.test_data_writers import (
    aedat2,
    aedat4,
    aedat31,
    aedat31_packet,
    atis_bin,
    cifar_batch,
    dvs128_address,
    polarity_word,
    shd_h5,
)

RNG = np.random.default_rng(0)


def random_atis(n: int, width: int = 34, height: int = 34) -> bytes:
    t = np.sort(RNG.integers(0, 300_000, n))
    return atis_bin([(int(RNG.integers(width)), int(RNG.integers(height)), int(RNG.integers(2)), int(v)) for v in t])


def nmnist_tree(root, per_digit=(2, 1)):
    """ROOT/NMNIST/{Train,Test}/<digit>/<id>.bin with ``per_digit`` files per split."""
    for split, n in zip(("Train", "Test"), per_digit):
        for digit in range(10):
            folder = root / "NMNIST" / split / str(digit)
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{digit * 100 + i:05d}.bin").write_bytes(random_atis(50 + digit))
    return root


@pytest.fixture
def nmnist_root(tmp_path):
    return nmnist_tree(tmp_path)


# ---------------------------------------------------------------- N-MNIST + the frame cache


def test_nmnist_items_and_labels(nmnist_root):
    ds = build_dataset("nmnist", "train", root=str(nmnist_root), T=5, cache=False)
    assert len(ds) == 20 and sorted(set(ds.targets)) == list(range(10))
    x, y = ds[3]
    assert x.shape == (5, 2, 34, 34) and x.dtype == torch.float32 and y == 1
    assert x.sum() == 50 + y  # every event lands in one frame
    assert len(build_dataset("nmnist", "test", root=str(nmnist_root), T=5, cache=False)) == 10


@pytest.mark.parametrize(("split_by", "size"), [("number", None), ("time", 16)])
def test_cache_serves_the_same_frames_and_is_reused(nmnist_root, monkeypatch, split_by, size):
    opts = dict(root=str(nmnist_root), T=4, split_by=split_by, size=size)
    direct = build_dataset("nmnist", "train", cache=False, **opts)
    cached = build_dataset("nmnist", "train", cache=True, workers=1, **opts)
    assert cached.cache is not None and cached.cache.is_complete()
    assert str(cached.cache.directory).startswith(str(nmnist_root / ".spikeforge_cache" / "nmnist"))
    for i in (0, 7, 19):
        torch.testing.assert_close(cached[i][0], direct[i][0])
        assert cached[i][1] == direct[i][1]

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cache was rebuilt")

    monkeypatch.setattr(event_dataset_module, "_fill_serial", no_rebuild)
    again = build_dataset("nmnist", "train", cache=True, workers=1, **opts)
    assert again.cache.directory == cached.cache.directory
    # Another T is another cache; so is a changed source file.
    with pytest.raises(AssertionError, match="rebuilt"):
        build_dataset("nmnist", "train", cache=True, workers=1, **{**opts, "T": 3})
    victim = nmnist_root / "NMNIST" / "Train" / "4" / "00400.bin"
    victim.write_bytes(random_atis(9))
    with pytest.raises(AssertionError, match="rebuilt"):
        build_dataset("nmnist", "train", cache=True, workers=1, **opts)


def test_cache_dir_option_and_parallel_build_match_serial(tmp_path):
    root = nmnist_tree(tmp_path / "data", per_digit=(7, 0))  # 70 samples: enough for worker processes
    serial = build_dataset("nmnist", "train", root=str(root), T=3, cache=False)
    parallel = build_dataset("nmnist", "train", root=str(root), T=3, cache_dir=str(tmp_path / "c"), workers=2)
    assert str(parallel.cache.directory).startswith(str(tmp_path / "c" / "nmnist"))
    assert len(list(parallel.cache.directory.glob("*.npz"))) == 70
    for i in range(0, 70, 9):
        torch.testing.assert_close(parallel[i][0], serial[i][0])


def test_corrupt_cache_file_is_reported(nmnist_root):
    ds = build_dataset("nmnist", "train", root=str(nmnist_root), T=2, workers=1)
    ds.cache.path(5).write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match="unreadable cache file"):
        ds[5]


def test_augmentation_only_on_the_train_split(nmnist_root):
    train = build_dataset("nmnist", "train", root=str(nmnist_root), T=2, augment=True, policy="dvs", cache=False)
    test = build_dataset("nmnist", "test", root=str(nmnist_root), T=2, augment=True, policy="dvs", cache=False)
    torch.manual_seed(0)
    assert any(not torch.equal(train[0][0], train[0][0]) for _ in range(10))
    assert torch.equal(test[0][0], test[0][0])
    binary = build_dataset("nmnist", "test", root=str(nmnist_root), T=1, binary=True, cache=False)
    assert set(binary[0][0].unique().tolist()) <= {0.0, 1.0}


# ---------------------------------------------------------------- missing and corrupt data


def test_missing_root_names_dataset_path_and_layout(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        build_dataset("nmnist", "train", root=str(tmp_path / "nowhere"), T=2)
    message = str(info.value)
    assert "'nmnist'" in message and "nowhere" in message and "Train/<0-9>/*.bin" in message
    with pytest.raises(ValueError, match=r"set data\.root"):
        build_dataset("cifar10_dvs", "train", T=2)
    for name in ("ncaltech101", "dvs128_gesture", "cifar10_dvs", "shd", "cifar10", "cifar100", "imagenet"):
        with pytest.raises(DatasetNotFoundError, match=name):
            build_dataset(name, "train", root=str(tmp_path), T=2)


def test_corrupt_file_is_named_when_building_the_cache_and_in_dataloader_workers(nmnist_root):
    bad = nmnist_root / "NMNIST" / "Train" / "2" / "00201.bin"
    bad.write_bytes(bad.read_bytes()[:-1])
    with pytest.raises(DataFormatError, match=r"00201\.bin: .* not a multiple of 5"):
        build_dataset("nmnist", "train", root=str(nmnist_root), T=2, workers=1)
    ds = build_dataset("nmnist", "train", root=str(nmnist_root), T=2, cache=False)
    index = [s.path for s in ds.source.samples].index(str(bad))
    loader = DataLoader(torch.utils.data.Subset(ds, [index]), batch_size=1, num_workers=1)
    with pytest.raises(DataFormatError, match=r"00201\.bin"):
        next(iter(loader))


# ---------------------------------------------------------------- N-Caltech101


def test_ncaltech101_classes_and_9_to_1_split(tmp_path):
    base = tmp_path / "Caltech101"
    names = ["BACKGROUND_Google"] + [f"class_{i:03d}" for i in range(100)]
    for k, name in enumerate(names):
        (base / name).mkdir(parents=True)
        for i in range(10 if k == 3 else 1):
            (base / name / f"image_{i + 1:04d}.bin").write_bytes(random_atis(20, 240, 180))
    train = build_dataset("ncaltech101", "train", root=str(tmp_path), T=2, size=48, cache=False)
    test = build_dataset("ncaltech101", "test", root=str(tmp_path), T=2, size=48, cache=False)
    assert len(train) == 100 + 9 and len(test) == 1
    assert test.source.samples[0].path.endswith("class_002/image_0010.bin") and test[0][1] == 3
    x, _ = train[0]
    native = build_dataset("ncaltech101", "train", root=str(tmp_path), T=2, cache=False)[0][0]
    assert x.shape == (2, 2, 48, 48) and native.shape == (2, 2, 180, 240) and native.sum() == 20
    torch.testing.assert_close(x, torch.nn.functional.interpolate(native, size=(48, 48), mode="area"))
    (base / names[5] / "image_0001.bin").unlink()
    with pytest.raises(DataFormatError, match=r"100 class folders with \.bin files, expected 101"):
        build_dataset("ncaltech101", "train", root=str(tmp_path), T=2)


# ---------------------------------------------------------------- CIFAR10-DVS


def test_cifar10_dvs_reads_aedat2_and_aedat4_with_a_9_to_1_split(tmp_path):
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for k, name in enumerate(classes):
        (tmp_path / "CIFAR10DVS" / name).mkdir(parents=True)
        for i in range(10 if k == 0 else 1):
            stem = tmp_path / "CIFAR10DVS" / name / f"cifar10_{name}_{i}"
            if i % 2:
                stem.with_suffix(".aedat4").write_bytes(aedat4([[(100 * j, j, 2 * j, j % 2) for j in range(30)]]))
            else:
                stem.with_suffix(".aedat").write_bytes(aedat2([(dvs128_address(j, j, 1), 10 * j) for j in range(25)]))
    train = build_dataset("cifar10_dvs", "train", root=str(tmp_path), T=5, workers=1)
    test = build_dataset("cifar10_dvs", "test", root=str(tmp_path), T=5, workers=1)
    assert len(train) == 9 + 9 and len(test) == 1
    assert test.source.samples[0].path.endswith("cifar10_airplane_9.aedat4") and test[0][1] == 0
    x, _ = test[0]
    assert x.shape == (5, 2, 128, 128) and x.sum() == 30
    assert x[:, 1, 2, 1].sum() == 1  # the AEDAT4 event (t=100, x=1, y=2, on) as stored
    x0, _ = train[0]  # AEDAT 2.0: x = 127 - y_addr, y = 127 - x_addr, p = 1 - p_addr
    assert x0.sum() == 25 and x0[:, 0, 127, 127].sum() == 1 and x0[:, 0, 126, 126].sum() == 1


# ---------------------------------------------------------------- DVS128 Gesture


def write_gesture_recording(folder, name, windows):
    """A recording with 10 events per label window and its labels CSV; returns the events per window."""
    packets, rows = [], ["class,startTime_usec,endTime_usec"]
    for cls, start, end in windows:
        ts = np.linspace(start, end - 1, 10).astype(int)
        packets.append(aedat31_packet([(polarity_word(cls, 2 * cls, 1), int(t)) for t in ts]))
        rows.append(f"{cls},{start},{end}")
    packets.append(aedat31_packet([(polarity_word(1, 1, 0), 999_999)]))  # outside every window
    (folder / name).write_bytes(aedat31(packets))
    (folder / name.replace(".aedat", "_labels.csv")).write_text("\n".join(rows) + "\n")


def test_dvs_gesture_original_layout(tmp_path):
    folder = tmp_path / "DvsGesture"
    folder.mkdir()
    write_gesture_recording(folder, "user01_fluorescent.aedat", [(1, 1000, 5000), (11, 6000, 9000)])
    write_gesture_recording(folder, "user24_led.aedat", [(4, 200, 800)])
    (folder / "trials_to_train.txt").write_text("user01_fluorescent.aedat\n")
    (folder / "trials_to_test.txt").write_text("user24_led.aedat\n\n")
    train = build_dataset("dvs128_gesture", "train", root=str(tmp_path), T=4, workers=1)
    assert len(train) == 2 and train.targets == [0, 10]
    x, y = train[1]
    assert x.shape == (4, 2, 128, 128) and y == 10 and x.sum() == 10 and x[:, 1, 22, 11].sum() == 10
    test = build_dataset("dvs128_gesture", "test", root=str(tmp_path), T=4, cache=False)
    assert [y for _, y in test] == [3]
    (folder / "user24_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n12,5,9\n")
    with pytest.raises(DataFormatError, match=r"user24_led_labels\.csv: line 2: class 12"):
        build_dataset("dvs128_gesture", "test", root=str(tmp_path), T=4, cache=False)


def test_dvs_gesture_tonic_layout(tmp_path):
    folder = tmp_path / "DVSGesture" / "ibmGestureTrain" / "user02_led"
    folder.mkdir(parents=True)
    np.save(folder / "0.npy", np.array([[1, 2, 1, 0.0], [3, 4, 0, 1.5]]))
    np.save(folder / "7.npy", np.array([[5, 6, 1, 2.0]]))
    ds = build_dataset("dvs128_gesture", "train", root=str(tmp_path), T=2, cache=False)
    assert ds.targets == [0, 7]
    x, _ = ds[0]
    assert x[0, 1, 2, 1] == 1 and x[1, 0, 4, 3] == 1


# ---------------------------------------------------------------- SHD


def test_shd_from_gzip_items_and_options(tmp_path):
    pytest.importorskip("h5py")
    shd_h5(tmp_path / "shd_train.h5.gz", [[0.0, 0.9, 1.5], [0.2]], [[1, 2, 3], [699]], [4, 19], gz=True)
    ds = build_dataset("shd", "train", root=str(tmp_path), T=2)
    assert dataset_info("shd").kind == "sequence" and len(ds) == 2
    x, y = ds[0]
    assert x.shape == (2, 700) and y == 4
    assert x[0, 1] == 1 and x[1, 2] == 1 and x.sum() == 2  # 1.5 s is past the 1.4 s window
    assert (tmp_path / ".spikeforge_cache" / "shd" / "shd_train.h5").is_file()
    spanned = build_dataset("shd", "train", root=str(tmp_path), T=2, duration=None)
    assert spanned[0][0].sum() == 3
    with pytest.raises(DatasetNotFoundError, match="shd_test"):
        build_dataset("shd", "test", root=str(tmp_path), T=2)


# ---------------------------------------------------------------- CIFAR-10/100 and ImageNet


def test_cifar10_normalised_items_and_augmentation(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    images = RNG.integers(0, 256, (12, 3, 32, 32), dtype=np.uint8)
    for i in range(5):
        cifar_batch(folder / f"data_batch_{i + 1}", images[2 * i : 2 * i + 2], [i, 9 - i])
    cifar_batch(folder / "test_batch", images[10:], [7, 3])
    test = build_dataset("cifar10", "test", root=str(tmp_path))
    x, y = test[1]
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(3, 1, 1)
    torch.testing.assert_close(x, (torch.from_numpy(images[11]).float() / 255 - mean) / std)
    assert y == 3
    train = build_dataset("cifar10", "train", root=str(tmp_path))
    assert len(train) == 10 and train.targets == [0, 9, 1, 8, 2, 7, 3, 6, 4, 5]
    assert train[0][0].shape == (3, 32, 32)


def test_cifar100_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    cifar_batch(folder / "train", np.zeros((3, 3, 32, 32), np.uint8), [99, 0, 42], label_key=b"fine_labels")
    cifar_batch(folder / "test", np.zeros((1, 3, 32, 32), np.uint8), [5], label_key=b"fine_labels")
    assert build_dataset("cifar100", "train", root=str(tmp_path)).targets == [99, 0, 42]
    assert dataset_info("cifar100").num_classes == 100


def test_imagenet100_folders_and_transforms(tmp_path):
    from PIL import Image

    for k in range(100):
        (tmp_path / "train" / f"n{k:08d}").mkdir(parents=True)
        if k < 2:
            Image.fromarray(RNG.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(
                tmp_path / "train" / f"n{k:08d}" / "a.JPEG"
            )
    for k in (1, 7):
        (tmp_path / "val" / f"n{k:08d}").mkdir(parents=True)
        Image.fromarray(np.full((30, 50, 3), 200, np.uint8)).save(tmp_path / "val" / f"n{k:08d}" / "v.png")
    train = build_dataset("imagenet100", "train", root=str(tmp_path), image_size=32)
    assert len(train) == 2 and train.targets == [0, 1]
    assert train[0][0].shape == (3, 32, 32)
    val = build_dataset("imagenet100", "test", root=str(tmp_path), image_size=24, eval_resize=28)
    assert val.targets == [1, 7]
    x, _ = val[0]
    expected = (200 / 255 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(x.mean(dim=(1, 2)), expected, atol=1e-3, rtol=0)
    (tmp_path / "val" / "n00000001" / "v.png").write_bytes(b"not an image")
    with pytest.raises(DataFormatError, match=r"v\.png: cannot decode image"):
        val[0]
    with pytest.raises(DataFormatError, match="found 100 class folders, expected 1000"):
        build_dataset("imagenet", "train", root=str(tmp_path))


def test_randaugment_ops_all_produce_images():
    from PIL import Image

    from spikeforge.data.image_transforms import RandAugment

    image = Image.fromarray(RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    ra = RandAugment()
    for op in RandAugment.OPS:
        for level in (0.0, 1.0):
            out = ra.apply(image, op, level, -1.0)
            assert out.size == image.size and out.mode == "RGB", op
    assert ra(image, torch.Generator().manual_seed(0)).size == image.size
    assert os.fspath(ra.apply(image, "Rotate", 0.0).tobytes()) == image.tobytes()
