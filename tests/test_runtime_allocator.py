"""spikeforge.runtime.tune_allocator: what it does to glibc's malloc, who applies it, the opt-outs."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from spikeforge import runtime
from spikeforge.commands import main
from spikeforge.train.config import config_from_dict

ROOT = Path(__file__).resolve().parents[1]
GLIBC = sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "mallinfo2")
needs_glibc = pytest.mark.skipif(not GLIBC, reason="glibc >= 2.33 (mallinfo2) only")


@pytest.fixture(autouse=True)
def fresh_status(monkeypatch):
    """Each test starts as a process that never called tune_allocator, with no opt-out in its environment."""
    monkeypatch.setattr(runtime, "_status", None)
    monkeypatch.delenv(runtime.ALLOCATOR_ENV, raising=False)


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != runtime.ALLOCATOR_ENV and not k.startswith("MALLOC_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**environment, **env},
        timeout=300,
    )


# A block above glibc's default mmap threshold (128 KiB) and below the tuned one (32 MiB): by default it is
# a mapping of its own, unmapped when freed; tuned, it comes from the heap and stays there once freed.
PROBE = """
import ctypes, json, sys

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                      "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def probe():
    before = libc.mallinfo2()
    block = libc.malloc(24 << 20)
    during = libc.mallinfo2()
    libc.free(block)
    after = libc.mallinfo2()
    return {"mapped": during.hblks - before.hblks, "kept_mib": (after.arena - before.arena) >> 20}
"""


@needs_glibc
def test_tuned_keeps_a_freed_block_that_the_default_allocator_unmaps():
    code = (
        PROBE
        + """
from spikeforge.runtime import tune_allocator
status = tune_allocator(sys.argv[-1] if len(sys.argv) > 1 else None)
print(json.dumps({**probe(), "applied": status.applied, "detail": status.detail}))
"""
    )
    default = json.loads(_python(PROBE + "\nprint(json.dumps(probe()))").stdout)
    tuned = json.loads(_python(code).stdout)
    assert default == {"mapped": 1, "kept_mib": 0}
    assert tuned["mapped"] == 0 and tuned["kept_mib"] >= 24
    assert tuned["applied"] is True
    assert tuned["detail"] == "glibc mallopt: mmap_threshold=32 MiB, trim_threshold=16384 MiB, top_pad=1024 MiB"


@needs_glibc
def test_importing_spikeforge_changes_nothing():
    """Importing the package, its CLI and its trainer calls no mallopt: the 24 MiB block is still mapped apart."""
    code = (
        PROBE
        + """
calls = []
class Spy(ctypes.CDLL):
    def __getattr__(self, name):
        calls.append(name)
        return super().__getattr__(name)
ctypes.CDLL = Spy
import spikeforge, spikeforge.runtime, spikeforge.commands, spikeforge.train.engine, spikeforge.analysis.sweep
ctypes.CDLL = Spy.__mro__[1]
result = {**probe(), "status": spikeforge.runtime.allocator_status(), "mallopt": calls.count("mallopt")}
print(json.dumps(result))
"""
    )
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"mapped": 1, "kept_mib": 0, "status": None, "mallopt": 0}


@needs_glibc
@pytest.mark.parametrize("how", ["env", "explicit"])
def test_opt_out_leaves_the_default_allocator(how):
    code = (
        PROBE
        + """
from spikeforge.runtime import tune_allocator
status = tune_allocator("system" if sys.argv[-1] == "explicit" else None)
print(json.dumps({**probe(), "applied": status.applied, "detail": status.detail}))
"""
    )
    env = {runtime.ALLOCATOR_ENV: "system"} if how == "env" else {}
    out = subprocess.run(
        [sys.executable, "-c", code, how],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != runtime.ALLOCATOR_ENV}, **env},
        timeout=300,
    )
    source = "SPIKEFORGE_ALLOCATOR=system" if how == "env" else "run.allocator: system"
    assert json.loads(out.stdout) == {
        "mapped": 1,
        "kept_mib": 0,
        "applied": False,
        "detail": f"system allocator ({source})",
    }


def test_the_environment_variable_overrides_the_config(monkeypatch):
    monkeypatch.setenv(runtime.ALLOCATOR_ENV, "system")
    assert runtime.requested_allocator("tuned") == "system"
    monkeypatch.setenv(runtime.ALLOCATOR_ENV, "tuned")
    assert runtime.requested_allocator("system") == "tuned"
    monkeypatch.delenv(runtime.ALLOCATOR_ENV)
    assert runtime.requested_allocator("system") == "system"
    assert runtime.requested_allocator(None) == "tuned"


class _NotGlibc:
    """A C library without glibc's symbols (musl, macOS' libSystem)."""

    def __init__(self, name):
        pass

    def __getattr__(self, name):
        raise AttributeError(name)


@pytest.mark.parametrize("cdll", [_NotGlibc, "raises"])
def test_other_c_libraries_fall_back_silently(monkeypatch, capsys, cdll):
    if cdll == "raises":

        def cdll(name):  # Windows: no handle of the running program
            raise OSError("no such module")

    monkeypatch.setattr(runtime.ctypes, "CDLL", cdll)
    status = runtime.tune_allocator()
    assert status == runtime.AllocatorStatus("tuned", False, "system allocator (the C library is not glibc)")
    assert runtime.allocator_status() is status
    assert capsys.readouterr() == ("", "")


# ----------------------------------------------------------------------------- the CLI applies it
@pytest.fixture
def no_training(monkeypatch):
    """Stand in for the engine: the CLI's own steps run, training does not. Returns the configs it got."""
    import spikeforge.train.engine as engine

    seen: list = []
    monkeypatch.setattr(engine, "train", lambda cfg, **kw: seen.append(cfg))
    return seen


def test_train_command_tunes_the_allocator(no_training, tmp_path):
    assert main(["train", "--run-dir", str(tmp_path / "r")]) == 0
    status = runtime.allocator_status()
    assert status is not None and status.mode == "tuned"
    assert status.applied is GLIBC
    assert len(no_training) == 1


def test_train_command_honours_run_allocator_system(no_training, tmp_path):
    assert main(["train", "--run-dir", str(tmp_path / "r"), "--set", "run.allocator=system"]) == 0
    assert runtime.allocator_status() == runtime.AllocatorStatus(
        "system", False, "system allocator (run.allocator: system)"
    )


def test_train_command_honours_the_environment(no_training, tmp_path, monkeypatch):
    monkeypatch.setenv(runtime.ALLOCATOR_ENV, "system")
    assert main(["train", "--run-dir", str(tmp_path / "r")]) == 0
    assert runtime.allocator_status() == runtime.AllocatorStatus(
        "system", False, "system allocator (SPIKEFORGE_ALLOCATOR=system)"
    )


def test_a_wrong_value_is_one_line(no_training, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(runtime.ALLOCATOR_ENV, "jemalloc")
    assert main(["train", "--run-dir", str(tmp_path / "r")]) == 2
    error = "spikeforge: error: SPIKEFORGE_ALLOCATOR='jemalloc': choose one of tuned, system\n"
    assert capsys.readouterr().err == error
    assert no_training == []
    monkeypatch.delenv(runtime.ALLOCATOR_ENV)
    assert main(["train", "--run-dir", str(tmp_path / "r"), "--set", "run.allocator=jemalloc"]) == 2
    assert "run.allocator" in capsys.readouterr().err


def test_eval_command_tunes_the_allocator(monkeypatch):
    import spikeforge.train.evaluate as evaluate

    monkeypatch.setattr(evaluate, "evaluate_run", lambda *a, **kw: {})
    assert main(["eval", "some-run"]) == 0
    assert runtime.allocator_status().mode == "tuned"
    monkeypatch.setattr(runtime, "_status", None)
    assert main(["eval", "some-run", "--set", "run.allocator=system"]) == 0
    assert runtime.allocator_status().mode == "system"


def test_reproduce_command_tunes_the_allocator(monkeypatch):
    import spikeforge.reproduce.study as study

    monkeypatch.setattr(study, "run_study", lambda *a, **kw: [])
    assert main(["reproduce", "--claims", "1"]) == 0
    assert runtime.allocator_status().mode == "tuned"


# ----------------------------------------------------------------------------- processes SpikeForge starts
class _StatusOfWorker(Dataset):
    """Each item is the allocator status of the process that loads it."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> torch.Tensor:
        status = runtime.allocator_status()
        return torch.tensor([status is not None and status.applied, os.getpid()])


def _tiny_cfg(workers: int):
    return config_from_dict(
        {
            "T": 2,
            "model": {"name": "digits_convnet"},
            "data": {"name": "digits", "batch_size": 16, "num_workers": workers},
        }
    )


def test_loaders_repeat_the_parents_set_up_in_their_workers():
    from spikeforge.train.builders import build_data

    _, train_loader, test_loader = build_data(_tiny_cfg(1))
    assert train_loader.worker_init_fn is None and test_loader.worker_init_fn is None  # nothing to repeat
    runtime.tune_allocator("system")
    assert build_data(_tiny_cfg(1))[1].worker_init_fn is None
    if not GLIBC:
        return
    runtime.tune_allocator("tuned")
    _, train_loader, test_loader = build_data(_tiny_cfg(1))
    for loader in (train_loader, test_loader):
        assert loader.worker_init_fn.func is runtime.worker_init and loader.worker_init_fn.args == ("tuned",)


@needs_glibc
@pytest.mark.parametrize("context", ["spawn", "forkserver"])
def test_spawned_loader_workers_get_the_set_up(context):
    """Workers that do not fork start with glibc's defaults; the worker_init_fn of build_data tunes them."""
    from spikeforge.train.builders import _worker_init_fn

    def statuses(init):
        loader = DataLoader(
            _StatusOfWorker(), batch_size=1, num_workers=1, multiprocessing_context=context, worker_init_fn=init
        )
        rows = torch.cat(list(loader))
        assert (rows[:, 1] != os.getpid()).all()  # loaded in a worker
        return rows[:, 0].tolist()

    runtime.tune_allocator("tuned")
    assert statuses(None) == [0, 0]
    assert statuses(_worker_init_fn()) == [1, 1]


def test_parallel_study_runs_repeat_the_set_up(monkeypatch, tmp_path):
    """run_arms' spawned workers get the parent's allocator mode through their initializer."""
    import spikeforge.analysis.sweep as sweep

    seen: dict = {}

    class Pool:
        def __init__(self, jobs, mp_context, initializer, initargs):
            seen.update(initializer=initializer, initargs=initargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, *args):
            return None

    monkeypatch.setattr(sweep.cf, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(sweep.cf, "as_completed", lambda futures: [])
    monkeypatch.setattr(sweep, "_prepare_data", lambda arms: None)
    arms = [sweep.Arm(name="a", config={"name": "a"}), sweep.Arm(name="b", config={"name": "b"})]
    sweep.run_arms(arms, tmp_path, jobs=2, threads=1)
    assert seen["initargs"] == (1, "system")  # this process never tuned
    runtime.tune_allocator("tuned")
    sweep.run_arms(arms, tmp_path, jobs=2, threads=1)
    assert seen["initargs"] == (1, "tuned" if GLIBC else "system")
    monkeypatch.setattr(runtime, "_status", None)
    seen["initializer"](None, "tuned")
    assert runtime.allocator_status().mode == "tuned"


# ----------------------------------------------------------------------------- same results
def test_metrics_are_bit_identical_with_and_without(tmp_path):
    """A short digits run: every logged metric (loss, accuracy per epoch) is the same number either way."""

    def run(mode: str) -> list[dict]:
        run_dir = tmp_path / mode
        cmd = [sys.executable, "-m", "spikeforge", "train", "--run-dir", str(run_dir)]
        cmd += ["--set", "epochs=2", "--set", "run.max_steps_per_epoch=8", "--set", "run.progress=false"]
        cmd += ["--set", "run.plots=false", "--set", "run.checkpoint=false"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
        out = subprocess.run(
            cmd, capture_output=True, text=True, cwd=ROOT, env={**env, runtime.ALLOCATOR_ENV: mode}, timeout=600
        )
        assert out.returncode == 0, out.stderr
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in row.items() if "time" not in k and "per_s" not in k} for row in rows]

    tuned, system = run("tuned"), run("system")
    assert len(tuned) == 2 and any("test/acc" in row for row in tuned)
    assert tuned == system
