"""The CUDA and distributed paths, checked without a GPU (CUDA's availability, devices and
``set_device`` mocked where the code asks for them).

Each test fails on the code before the fix it checks (GitHub issue 19): the reference's
rounding per device, the device a rank starts NCCL on, ``device: cuda``, kernel launches on the
tensor's device, fp16 skipped steps, cuBLAS in deterministic mode, host syncs per training step
and per monitored layer call, T=0, and a triton that cannot run.
"""

from __future__ import annotations

import logging
import math
import os
import traceback

import pytest
import torch
from torch import nn

from spikeforge.device import device_guard, resolve_device
from spikeforge.monitor.activity import ActivityMonitor
from spikeforge.monitor.energy import EnergyMeter
from spikeforge.neuron import IFNode, backends
from spikeforge.neuron.reference import Dynamics, leak_factor, multistep
from spikeforge.train import engine
from spikeforge.train.runtime import CUBLAS_WORKSPACE, torch_settings

from .test_train_engine import cfg

CUDA_DIVISION_TAUS = (1.5, 3.7, 10.0)


# ----------------------------------------------------------------------------- 1. the same rounding on every device
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("decay_input", [True, False])
def test_reference_lif_rounds_as_a_multiply_by_the_leak_factor(dtype, decay_input):
    """On CUDA, ``tensor / python_float`` is ``tensor * (1 / b)`` (one rounding of the reciprocal in the state dtype);
    on CPU a true division. The reference multiplies by ``leak_factor`` itself, so it is the same on both: one step
    equals the multiply, bit for bit (a true division differs by an ulp in 8-55% of elements for these taus)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4096, generator=gen, dtype=torch.float64).to(dtype)
    v0 = torch.randn(4096, generator=gen, dtype=torch.float64)
    sdt = torch.float32 if dtype == torch.bfloat16 else dtype
    for tau in CUDA_DIVISION_TAUS:
        out = multistep(x, Dynamics(kind="lif", tau=tau, decay_input=decay_input), 1e9, v0.to(sdt), record_v=True)
        inv = torch.tensor(1.0, dtype=sdt) / torch.tensor(tau, dtype=sdt)  # as CUDA's division computes it
        v, xt = v0.to(sdt), x[0].to(sdt)
        cuda_h = v + (xt - v) * inv if decay_input else v - v * inv + xt
        assert torch.equal(out.v_seq[0], cuda_h), f"tau={tau}"
        assert leak_factor(tau, sdt) == inv.item()


def test_reference_with_no_time_steps_returns_empty_spikes_and_the_initial_state():
    x = torch.randn(0, 3, 4)
    imp = torch.full((4,), 0.25, requires_grad=True)
    out = multistep(x, Dynamics(kind="cuba"), 1.0, imp, record_v=True)
    assert out.spikes.shape == (0, 3, 4) and out.v_seq.shape == (0, 3, 4)
    assert torch.equal(out.v, imp.detach().expand(3, 4)) and torch.equal(out.i, torch.zeros(3, 4))


# ----------------------------------------------------------------------------- 2-3. one device per rank
@pytest.fixture
def two_gpus(monkeypatch):
    """CUDA available with two devices; ``set_device`` records its argument."""
    current = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: current.append(torch.device(device)))
    return current


@pytest.mark.parametrize("name", ["cuda", "auto"])
def test_cuda_resolves_to_the_local_rank(two_gpus, name):
    assert resolve_device(name, local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cuda:0", local_rank=1) == torch.device("cuda", 0)  # a named index is kept


def test_cuda_without_cuda_is_one_config_error():
    from spikeforge.train.config import ConfigError

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ConfigError, match="requested but CUDA is not available"):
        resolve_device("cuda")


class _StopAtSetup(Exception):
    pass


def test_each_rank_sets_its_device_before_the_process_group(two_gpus, monkeypatch, tmp_path):
    """NCCL starts its communicator on the current device: set_device must come before ``D.setup`` (and the run
    folder's broadcast after it), else every rank starts on GPU 0 ("Duplicate GPU detected" or a hang)."""
    order = []
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: order.append(("set_device", torch.device(device))))

    def setup(device):
        order.append(("setup", device))
        raise _StopAtSetup

    monkeypatch.setattr(engine.D, "setup", setup)
    with pytest.raises(_StopAtSetup):
        engine.train(cfg(device="cuda"), run_dir=tmp_path / "run", verbose=False)
    assert order == [("set_device", torch.device("cuda", 1)), ("setup", torch.device("cuda", 1))]


def test_device_guard_makes_the_tensors_device_current(monkeypatch):
    entered = []
    monkeypatch.setattr(torch.cuda, "device", lambda device: entered.append(device) or _Nothing())
    with device_guard(torch.device("cuda", 1)):
        pass
    with device_guard(torch.device("cpu")):
        pass
    assert entered == [torch.device("cuda", 1)]


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_triton_launches_under_the_tensors_device_with_a_block_per_sm_count(monkeypatch):
    """Triton launches on the current device: a kernel given cuda:1 tensors while cuda:0 is current would
    read the wrong GPU's memory. The launcher enters the tensor's device first; 2**16 neurons on 132 SMs get
    512 programs of 128 neurons (not 64 of 1024)."""
    from spikeforge.neuron.ops.triton import op

    current = []
    monkeypatch.setattr(torch.cuda, "device", lambda device: current.append(device) or _Nothing())
    monkeypatch.setattr(op, "_sm_count", lambda device: 132)
    monkeypatch.setattr(op, "interpreting", lambda: False)
    launches = []

    class Kernel:
        def __getitem__(self, grid):
            return lambda *args, **kwargs: launches.append((grid, list(current), kwargs))

    op._launch(Kernel(), 2**16, torch.device("cuda", 1), "x", KIND=1)
    (grid, devices, kwargs) = launches[0]
    assert devices == [torch.device("cuda", 1)]
    assert grid == (512,) and kwargs == {"BLOCK": 128, "KIND": 1, "num_warps": 1, "enable_fp_fusion": False}
    assert op.launch_config(2**24, 132) == (1024, 4) and op.launch_config(2**20, 132) == (1024, 4)
    assert op.launch_config(2**18, 132) == (256, 2) and op.launch_config(100, 132) == (128, 1)


# ----------------------------------------------------------------------------- 7. fp16: a skipped step is no divergence
def _overflowed_step(init_scale: float) -> tuple[nn.Module, torch.amp.GradScaler]:
    """One step of a model whose scaled gradients overflow: the scaler skips it and leaves inf in ``.grad``."""
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale)
    before = [p.detach().clone() for p in model.parameters()]
    scaler.scale(model(torch.randn(8, 4)).pow(2).sum()).backward()
    scaler.step(optimizer)
    scaler.update()
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True)), "the step was not skipped"
    assert not all(torch.isfinite(p.grad).all() for p in model.parameters())
    return model, scaler


def test_a_step_the_fp16_scaler_skipped_is_not_divergence():
    model, scaler = _overflowed_step(2.0**127)
    engine._check_finite(model, 0, range(3), cfg(), None, scaler)  # no TrainingDiverged


def test_real_divergence_under_fp16_is_still_caught():
    model, scaler = _overflowed_step(2.0**127)
    with torch.no_grad():
        model.weight[0, 0] = math.nan
    with pytest.raises(engine.TrainingDiverged, match=r"parameter 'weight' holds 1 non-finite values"):
        engine._check_finite(model, 0, range(3), cfg(), None, scaler)
    # gradients that overflow even unscaled: the scaler halves its scale at every skipped step until it collapses
    collapsed = torch.amp.GradScaler("cpu", init_scale=2.0**-25)
    with pytest.raises(engine.TrainingDiverged, match=r"the fp16 loss scale fell to 2\.98023e-08 at epoch 1"):
        engine._check_finite(nn.Linear(2, 2), 0, range(3), cfg(), None, collapsed)


def test_without_a_scaler_non_finite_gradients_are_divergence():
    model, _ = _overflowed_step(2.0**127)
    with pytest.raises(engine.TrainingDiverged, match="gradient of 'weight'"):
        engine._check_finite(model, 0, range(3), cfg(), None, None)


# ----------------------------------------------------------------------------- 8. deterministic cuBLAS
def test_deterministic_mode_sets_the_cublas_workspace_and_restores_it(monkeypatch):
    monkeypatch.delenv(CUBLAS_WORKSPACE, raising=False)
    with torch_settings(deterministic=True):
        assert os.environ[CUBLAS_WORKSPACE] == ":4096:8"
    assert CUBLAS_WORKSPACE not in os.environ
    monkeypatch.setenv(CUBLAS_WORKSPACE, ":16:8")  # a user's own choice is kept
    with torch_settings(deterministic=True):
        assert os.environ[CUBLAS_WORKSPACE] == ":16:8"


# ----------------------------------------------------------------------------- 9. host syncs
class _SyncCounter(torch.utils._python_dispatch.TorchDispatchMode):
    """Counts the ops that copy a tensor's value to the host: ``.item()`` / ``bool()`` (``_local_scalar_dense``).

    Without a GPU every tensor is on the host, so the optimisers' step counters are left out: they are CPU
    tensors on CUDA too (``torch.optim`` reads them without a device sync).
    """

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            optimizer_step = any(f"{os.sep}torch{os.sep}optim{os.sep}" in f.filename for f in traceback.extract_stack())
            self.count += not optimizer_step
        return func(*args, **(kwargs or {}))


_TRAIN_EPOCH = engine._train_epoch


def _syncs_per_epoch(monkeypatch, tmp_path, steps: int) -> int:
    counts = []
    tolists = []
    real_epoch, real_tolist = _TRAIN_EPOCH, torch.Tensor.tolist

    def counted(*args, **kwargs):
        monkeypatch.setattr(torch.Tensor, "tolist", lambda t: tolists.append(1) or real_tolist(t))
        with _SyncCounter() as counter:
            out = real_epoch(*args, **kwargs)
        monkeypatch.setattr(torch.Tensor, "tolist", real_tolist)
        counts.append(counter.count + len(tolists))
        return out

    monkeypatch.setattr(engine, "_train_epoch", counted)
    run = {"max_steps_per_epoch": steps, "progress": False, "checkpoint": False, "plots": False}
    # no mixup: F.one_hot checks its labels' range on the host for CPU tensors only
    engine.train(cfg(epochs=1, run=run, augment={}), run_dir=tmp_path / f"run{steps}", verbose=False)
    return counts[0]


def test_a_training_step_syncs_the_host_at_most_once(monkeypatch, tmp_path):
    """The loss check, the loss and the accuracy of a step: one copy to the host, after backward and the update
    are queued (three before, the first blocking before backward was queued)."""
    two, five = _syncs_per_epoch(monkeypatch, tmp_path, 2), _syncs_per_epoch(monkeypatch, tmp_path, 5)
    assert five - two == 3  # one per step


def test_monitored_layer_calls_do_not_sync_the_host():
    """The activity monitor's membrane statistics and the energy meter keep their per-call figures on the device."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), IFNode(), nn.Linear(8, 3), IFNode())
    x = torch.rand(4, 2, 6)
    monitor, meter = ActivityMonitor(model, record_v=True), EnergyMeter(model)
    traces = []
    with monitor, _SyncCounter() as counter:
        hook = model[1].register_forward_hook(lambda module, args, out: traces.append(module.v_seq.double().flatten()))
        for _ in range(3):
            meter.update(x)  # runs the model
        hook.remove()
    assert counter.count == 0
    stats, v = monitor.compute(), torch.cat(traces)
    assert stats["1/v_mean"] == pytest.approx(v.mean().item(), rel=1e-12)
    assert stats["1/v_std"] == pytest.approx(v.std(unbiased=False).item(), rel=1e-9)
    assert (stats["1/v_min"], stats["1/v_max"]) == (v.min().item(), v.max().item())
    assert meter.compute()["layers"][1]["input_kind"] == "spike"


# ----------------------------------------------------------------------------- 10. a triton that cannot run
def test_auto_falls_back_from_a_gpu_triton_cannot_use_with_one_warning(monkeypatch):
    """A GPU older than Volta (likewise a triton that fails to compile or launch): ``auto`` runs the reference and
    says why once, as a warning, instead of failing at the first neuron call."""
    pytest.importorskip("triton")
    from spikeforge.neuron import log
    from spikeforge.neuron.ops.triton import op

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (6, 1))
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    log.logger.addHandler(handler)
    log._said.clear()
    op._unusable_reason.cache_clear()
    try:
        chosen = [backends.select("auto", torch.device("cuda", 0), torch.float32, Dynamics()) for _ in range(3)]
    finally:
        log.logger.removeHandler(handler)
        op._unusable_reason.cache_clear()
    assert {b.name for b in chosen} == {"torch"}
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (
            logging.WARNING,
            "neuron backend auto -> 'torch' (reference): triton needs a GPU of compute capability 7.0 or newer; "
            "cuda:0 has 6.1",
        )
    ]


def test_a_triton_that_fails_to_launch_is_reported_not_raised(monkeypatch):
    pytest.importorskip("triton")
    from spikeforge.neuron.ops.triton import op

    if torch.cuda.is_available():
        pytest.skip("a working GPU here")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    op._unusable_reason.cache_clear()
    try:
        reason = op.unusable_reason(torch.device("cuda", 0))  # no GPU here: the one-neuron forward fails
    finally:
        op._unusable_reason.cache_clear()
    assert reason is not None and reason.startswith("the Triton kernels fail on cuda:0 (triton 3.")


def test_gpu_check_names_modules_that_exist():
    """``benchmarks/gpu_check.sh`` imports these on the lent GPU machine (its dry run too): a module moved in the
    library without the script following must fail here, on CPU, not in the one short GPU run."""
    import importlib
    import re
    from pathlib import Path

    script = (Path(__file__).parents[1] / "benchmarks" / "gpu_check.sh").read_text()
    modules = sorted(set(re.findall(r'"(spikeforge(?:\.\w+)+)"', script)))
    assert modules, "gpu_check.sh names no spikeforge module any more: update this test"
    for module in modules:
        importlib.import_module(module)
