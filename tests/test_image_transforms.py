"""The official CIFAR train pipeline (RandomResizedCrop 0.875-1 bicubic + flip + RandAugment m7), on Pillow."""

import numpy as np
import pytest
import torch

from spikeforge.data import build_dataset
from spikeforge.data.image_transforms import CifarTransform, RandAugment
from tests.test_data_writers import cifar_batch

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def _image(seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (3, 32, 32), dtype=np.uint8))


def test_randaugment_policy_is_random_reproducible_and_normalised():
    t = CifarTransform(MEAN, STD, augment=True, policy="randaugment")
    img = _image()
    torch.manual_seed(3)
    a = t(img)
    torch.manual_seed(3)
    b = t(img)
    c = t(img)
    assert a.shape == (3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    # The values stay the normalised image of uint8 pixels.
    pixels = a * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6
    assert torch.allclose(pixels * 255, (pixels * 255).round(), atol=1e-3)


def test_randaugment_policy_without_augmentation_is_plain_normalisation():
    img = _image(1)
    out = CifarTransform(MEAN, STD, augment=False, policy="randaugment")(img)
    expected = (img.float() / 255 - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    torch.testing.assert_close(out, expected)


def test_resized_crop_keeps_most_of_the_image():
    # Area 0.875-1 and no RandAugment ops (magnitude irrelevant with num_ops 0): a near-identity resample.
    t = CifarTransform(MEAN, STD, augment=True, policy="randaugment")
    t.randaugment = RandAugment(num_ops=0)
    img = torch.zeros(3, 32, 32, dtype=torch.uint8)
    img[:, 8:24, 8:24] = 255  # a centred square survives any crop of >= 87.5% area
    torch.manual_seed(0)
    out = t(img) * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)
    assert out[:, 15:17, 15:17].min() > 0.9 and out[:, :2, :2].max() < 0.1


def test_bad_policy_and_interpolation_fail_with_the_allowed_values():
    with pytest.raises(ValueError, match="crop_flip"):
        CifarTransform(MEAN, STD, augment=True, policy="autoaugment")
    with pytest.raises(ValueError, match="interpolation"):
        RandAugment(resample="lanczos5")


def test_cifar_builders_take_the_policy(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    images = np.random.default_rng(0).integers(0, 256, (12, 3, 32, 32), dtype=np.uint8)
    for i in range(5):
        cifar_batch(folder / f"data_batch_{i + 1}", images[2 * i : 2 * i + 2], [i, 9 - i])
    cifar_batch(folder / "test_batch", images[10:], [7, 3])
    train = build_dataset("cifar10", "train", root=str(tmp_path), policy="randaugment", ra_magnitude=9)
    assert train.transform.policy == "randaugment" and train.transform.randaugment.magnitude == 9
    assert train[0][0].shape == (3, 32, 32)
