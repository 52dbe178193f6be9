"""Learnable IMP / threshold parameters: shapes, sharing, laziness, state dicts."""

import io

import pytest
import torch
from torch import nn

import spikeforge
from spikeforge import CUBALIFNode, IFNode, LIFNode, NeuronParameterError
from spikeforge.neuron import check_materialized


@pytest.mark.parametrize(("sharing", "expected"), [("neuron", (4, 3, 3)), ("channel", (4, 1, 1)), ("layer", ())])
def test_sharing_shapes(sharing, expected):
    node = LIFNode(imp="learn", imp_sharing=sharing, v_threshold="learn", threshold_sharing=sharing)
    node(torch.rand(2, 5, 4, 3, 3))
    assert node.imp.shape == expected and node.v_threshold.shape == expected


def test_parameters_have_recognisable_names():
    model = nn.Sequential(nn.Linear(3, 4), CUBALIFNode(v_threshold="learn", imp="learn", feature_shape=(4,)))
    names = dict(model.named_parameters())
    assert {"1.imp", "1.v_threshold"} <= set(names)
    assert torch.all(names["1.v_threshold"] == 1.25)


def test_imp_init_distribution():
    torch.manual_seed(0)
    node = IFNode(imp="learn", feature_shape=(10000,))
    assert node.imp.min() >= -0.2 and node.imp.max() <= 0.2 and node.imp.std() > 0.1
    node = IFNode(imp="learn", imp_init="normal(0.5, 0.01)", feature_shape=(10000,))
    assert node.imp.mean().item() == pytest.approx(0.5, abs=0.01)
    node = IFNode(imp="learn", imp_init={"dist": "constant", "value": 0.3}, feature_shape=(5,))
    assert torch.all(node.imp == 0.3)
    node = LIFNode(v_threshold="learn", v_threshold_init=0.25, feature_shape=(5,))
    assert torch.all(node.v_threshold == 0.25)


def test_layer_sharing_exists_before_any_forward():
    node = LIFNode(imp="learn", imp_sharing="layer")
    assert node.is_materialized() and node.imp.shape == ()


def test_lazy_parameters_need_materialize_before_use():
    model = nn.Sequential(nn.Flatten(2), LIFNode(imp="learn", v_threshold="learn"))
    with pytest.raises(NeuronParameterError, match="materialize"):
        check_materialized(model)
    with pytest.raises(NeuronParameterError, match="materialize"):
        model.state_dict()
    spikeforge.materialize(model, torch.rand(2, 1, 3, 2))
    check_materialized(model)
    assert model[1].imp.shape == (6,)


def test_materialize_does_not_touch_batchnorm_statistics():
    class Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(3)
            self.node = LIFNode(imp="learn")

        def forward(self, x):
            return self.node(self.bn(x.flatten(0, 1)).unflatten(0, x.shape[:2]))

    model = Seq()
    spikeforge.materialize(model, torch.rand(2, 4, 3))
    assert model.training
    assert torch.all(model.bn.running_mean == 0) and model.bn.num_batches_tracked == 0


def test_feature_shape_mismatch_is_a_clear_error():
    node = LIFNode(imp="learn", feature_shape=(4, 8, 8))
    with pytest.raises(NeuronParameterError, match=r"\(4, 8, 8\)"):
        node(torch.rand(2, 1, 4, 4, 4))


def test_state_dict_round_trip_into_unmaterialized_model():
    torch.manual_seed(1)
    src = nn.Sequential(LIFNode(imp="learn", v_threshold="learn", v_reset=None))
    x = torch.rand(3, 2, 7)
    out = src(x)
    buf = io.BytesIO()
    torch.save(src.state_dict(), buf)
    buf.seek(0)
    dst = nn.Sequential(LIFNode(imp="learn", v_threshold="learn", v_reset=None))
    dst.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(dst[0].imp, src[0].imp) and torch.equal(dst[0].v_threshold, src[0].v_threshold)
    assert torch.equal(dst(x), out)


def test_optimizer_sees_materialized_parameters():
    node = LIFNode(imp="learn", v_threshold="learn", v_reset=None)
    spikeforge.materialize(node, torch.rand(2, 1, 3))
    opt = torch.optim.SGD(node.parameters(), lr=1.0)
    before = node.imp.detach().clone()
    node(torch.rand(4, 8, 3) * 2).sum().backward()
    opt.step()
    assert not torch.equal(before, node.imp)


def test_threshold_min_floors_a_learned_threshold():
    node = IFNode(v_threshold="learn", v_threshold_init=-1.0, threshold_min=0.5, feature_shape=(1,))
    s = node(torch.full((1, 1, 1), 0.4))
    assert s.item() == 0.0  # would fire with threshold -1


def test_repr_mentions_learnable_parts():
    text = repr(LIFNode(imp="learn", v_threshold="learn"))
    assert "imp=learn" in text and "v_threshold=learn" in text and "ATan" in text
