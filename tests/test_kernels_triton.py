"""The Triton backend against the reference.

On a machine with a CUDA GPU the kernels run on it. Without one they run in Triton's
interpreter (``TRITON_INTERPRET=1``, set here before the kernels are first imported) on
CPU tensors: that checks the kernels' arithmetic and indexing, not GPU code generation
(e.g. not that ``enable_fp_fusion=False`` keeps CUBA's mul+add unfused on the device).
Skipped when ``triton`` is not installed.
"""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import given, settings

from spikeforge.neuron import backends
from spikeforge.neuron.reference import Dynamics

from .test_kernels import Case, case_strategy, check_backend

pytest.importorskip("triton")

from spikeforge.neuron.ops.triton import op as triton_backend

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"


@pytest.fixture(scope="module", autouse=True)
def interpreter_without_gpu():
    """Without a GPU, define the kernels (at their first use) under ``TRITON_INTERPRET=1``; restore the env after."""
    if CUDA:
        yield
        return
    old = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    triton_backend._kernels()
    yield
    if old is None:
        del os.environ["TRITON_INTERPRET"]
    else:
        os.environ["TRITON_INTERPRET"] = old


DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)


@settings(max_examples=60 if CUDA else 25, deadline=None)
@given(case=case_strategy(dtypes=DTYPES))
def test_triton_matches_reference(case):
    check_backend(triton_backend.multistep, case, DEVICE)


def test_triton_half_precision_with_learnable_parameters():
    case = Case(
        dyn=Dynamics(kind="cuba", v_reset=None),
        shape=(5, 2, 3, 4),
        dtype=torch.float16,
        theta="channel",
        v_init="full",
        i_init=True,
        record_v=True,
        seed=11,
    )
    check_backend(triton_backend.multistep, case, DEVICE)


def test_auto_picks_triton_only_for_cuda_tensors():
    dyn = Dynamics(kind="lif")
    assert backends.resolve_backend("auto", torch.device("cpu"), torch.float32, dyn).name != "triton"
    if CUDA:
        assert backends.resolve_backend("auto", torch.device("cuda"), torch.float32, dyn).name == "triton"
    else:
        with pytest.raises(ValueError, match="needs CUDA tensors"):
            backends.resolve_backend("triton", torch.device("cpu"), torch.float32, dyn)
