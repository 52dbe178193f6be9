"""DVS frame augmentation: exact geometry of each op, and one draw shared by all T frames."""

from __future__ import annotations

import pytest
import torch

from spikeforge.data.augment import (
    DVS_OPS,
    FrameAugment,
    cutout,
    dvs_policy,
    random_crop,
    random_hflip,
    rotate,
    shear,
    translate,
)

# Augmentation runs in DataLoader workers, which use one torch thread (tiny ops on many threads crawl).
pytestmark = pytest.mark.usefixtures("one_thread")


def spot(h=9, w=9, row=2, col=3, T=3):
    """[T, 2, h, w] frames, zero except pixel (row, col) which holds t + 1 in frame t (both channels)."""
    x = torch.zeros(T, 2, h, w)
    for t in range(T):
        x[t, :, row, col] = t + 1
    return x


def where(frame):
    return [tuple(i) for i in torch.nonzero(frame).tolist()]


def same_op_on_every_frame(x, y):
    """``y[t] == op(x[t])`` for one op: frames scaled by t + 1 must stay proportional."""
    T = x.shape[0]
    return all(torch.allclose(y[t] / (t + 1), y[0]) for t in range(T))


def test_translate_moves_content_right_and_down():
    x = spot()
    assert where(translate(x, 2, "x")[0, 0]) == [(2, 5)]
    assert where(translate(x, -1, "y")[0, 0]) == [(1, 3)]
    assert translate(x, 20, "x").abs().sum() == 0  # moved out of the frame: zeros come in


def test_shear_x_shifts_rows_by_factor_times_row():
    x = spot(row=2, col=3)
    assert where(shear(x, 1.0, "x")[0, 0]) == [(2, 5)]  # x' = x + 1.0 * y
    assert where(shear(x, 1.0, "y")[0, 0]) == [(5, 3)]  # y' = y + 1.0 * x


def test_rotate_90_is_a_counter_clockwise_quarter_turn():
    x = torch.arange(2 * 5 * 5, dtype=torch.float32).reshape(1, 2, 5, 5)
    torch.testing.assert_close(rotate(x, 90.0), torch.rot90(x, 1, dims=(-2, -1)))
    torch.testing.assert_close(rotate(x, 0.0), x)


def test_cutout_zeroes_one_square_on_every_frame():
    x = torch.ones(4, 2, 20, 20)
    g = torch.Generator().manual_seed(0)
    y = cutout(x, 6, g)
    holes = y == 0
    assert torch.equal(holes, holes[:1].expand_as(holes))  # the same square in every frame and channel
    rows, cols = torch.nonzero(holes[0, 0], as_tuple=True)
    assert 0 < rows.numel() <= 36 and rows.numel() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)


def test_flip_and_crop_are_shared_by_all_frames():
    x = spot(T=4)
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        y = random_hflip(random_crop(x, 9, 4, g), 0.5, g)
        assert y.shape == x.shape and same_op_on_every_frame(x, y)
    assert torch.equal(random_hflip(x, 1.0), x.flip(-1))


@pytest.mark.parametrize("policy", ["flip", "crop_flip", "dvs"])
def test_policies_keep_shape_and_apply_one_draw_to_all_frames(policy):
    x = spot(h=16, w=16, row=6, col=7, T=5)
    aug = FrameAugment(policy, generator=torch.Generator().manual_seed(2))
    for _ in range(20):
        y = aug(x)
        assert y.shape == x.shape and same_op_on_every_frame(x, y)


def test_dvs_policy_draws_every_op_with_magnitudes_in_range():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 2, 12, 12)
    seen = {}
    for _ in range(300):
        y, name, magnitude = dvs_policy(x, g)
        lo, hi, signed = DVS_OPS[name]
        bound = max(abs(lo), abs(hi))
        assert (abs(magnitude) <= bound + 1e-9) if signed else (lo <= magnitude <= hi)
        seen.setdefault(name, set()).add(magnitude < 0)
        if name == "Identity":
            assert torch.equal(y, x)
    assert set(seen) == set(DVS_OPS)
    assert seen["Rotate"] == {True, False}  # both signs


def test_unknown_policy():
    with pytest.raises(ValueError, match="policy"):
        FrameAugment("autoaugment")
