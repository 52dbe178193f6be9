"""Every loss against a hand computation."""

import math

import pytest
import torch

from spikeforge import losses

# T=2, B=1, K=2 logits
O = torch.tensor([[[1.0, 0.0]], [[0.0, 2.0]]])
Y = torch.tensor([0])


def ce(logits, label, eps=0.0):
    """Hand cross-entropy of one sample with label smoothing (1-eps)*onehot + eps/K."""
    K = len(logits)
    lse = math.log(sum(math.exp(v) for v in logits))
    q = [(1 - eps) * (k == label) + eps / K for k in range(K)]
    return -sum(qk * (logits[k] - lse) for k, qk in enumerate(q))


def test_sdt_is_ce_of_mean():
    assert losses.SDTLoss()(O, Y).item() == pytest.approx(ce([0.5, 1.0], 0))


def test_tet_is_mean_of_per_step_ce():
    expected = (ce([1.0, 0.0], 0) + ce([0.0, 2.0], 0)) / 2
    assert losses.TETLoss()(O, Y).item() == pytest.approx(expected)


def test_tet_with_mse_regulariser():
    lam, phi = 0.3, 1.0
    mse = sum((v - phi) ** 2 for v in [1.0, 0.0, 0.0, 2.0]) / 4
    expected = (1 - lam) * (ce([1.0, 0.0], 0) + ce([0.0, 2.0], 0)) / 2 + lam * mse
    assert losses.TETLoss(lam=lam, phi=phi)(O, Y).item() == pytest.approx(expected)


def test_tet_s_uses_label_smoothing_001():
    expected = (ce([1.0, 0.0], 0, 0.01) + ce([0.0, 2.0], 0, 0.01)) / 2
    loss = losses.TETSLoss()
    assert loss.label_smoothing == 0.01
    assert loss(O, Y).item() == pytest.approx(expected)
    assert loss(O, Y).item() != pytest.approx(losses.TETLoss()(O, Y).item())


def test_lts_uses_last_step_only():
    assert losses.LTSLoss()(O, Y).item() == pytest.approx(ce([0.0, 2.0], 0))
    assert torch.equal(losses.LTSLoss().readout(O), O[-1])


def test_spike_rate_loss():
    spikes = torch.tensor([[[1.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]]])  # rates 1, 0, 0.5
    y = torch.tensor([2])
    expected = ((1 - 0.03) ** 2 + (0 - 0.03) ** 2 + (0.5 - 0.2) ** 2) / 3
    assert losses.SpikeRateLoss()(spikes, y).item() == pytest.approx(expected)
    assert losses.SpikeRateLoss().readout(spikes).tolist() == [[2.0, 0.0, 1.0]]


def test_soft_targets_equal_hard_targets_when_one_hot():
    soft = torch.tensor([[1.0, 0.0]])
    for name in losses.LOSSES:
        loss = losses.build_loss(name)
        assert loss(O, soft).item() == pytest.approx(loss(O, Y).item()), name


def test_soft_target_mixture():
    soft = torch.tensor([[0.7, 0.3]])
    expected = 0.7 * ce([0.5, 1.0], 0) + 0.3 * ce([0.5, 1.0], 1)
    assert losses.SDTLoss()(O, soft).item() == pytest.approx(expected)
    # TET-S on soft targets smooths the mixture
    q = [0.99 * 0.7 + 0.005, 0.99 * 0.3 + 0.005]

    def soft_ce(lg):
        lse = math.log(sum(math.exp(v) for v in lg))
        return -sum(qk * (lg[k] - lse) for k, qk in enumerate(q))

    assert losses.TETSLoss()(O, soft).item() == pytest.approx((soft_ce([1.0, 0.0]) + soft_ce([0.0, 2.0])) / 2)


def test_readouts():
    assert losses.SDTLoss().readout(O).tolist() == [[0.5, 1.0]]
    assert losses.TETLoss().readout is losses.mean_readout


def test_errors():
    with pytest.raises(ValueError, match="unknown loss"):
        losses.build_loss("mse")
    with pytest.raises(ValueError, match=r"\[T, B, K\]"):
        losses.SDTLoss()(O[0], Y)
    with pytest.raises(ValueError, match="target"):
        losses.SDTLoss()(O, torch.tensor([0, 1]))
