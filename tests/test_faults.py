"""Fault injection, engine and CLI side: every fault a user (or the machine) can cause ends in correct
behaviour or in one line and a non-zero exit, with nothing lost and no checkpoint holding NaN.

Each test is one row of docs/reliability.md (its id in the docstring). Run them alone with
``./run test -m faults``; CI runs them with the rest of the suite.
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from spikeforge import distributed as D
from spikeforge.commands import main
from spikeforge.errors import RunFolderError, SpikeForgeError
from spikeforge.train import runfolder as RF
from spikeforge.train.checkpoint import load_checkpoint, save_checkpoint
from spikeforge.train.config import ConfigError, config_from_dict
from spikeforge.train.engine import TrainingDiverged, train
from spikeforge.train.evaluate import evaluate_run

from .ranks import GROUP_TIMEOUT, run_job, spawn_ranks

pytestmark = pytest.mark.faults

TINY = {
    "name": "tiny",
    "device": "cpu",
    "T": 2,
    "epochs": 2,
    "model": {"name": "digits_convnet", "options": {"widths": [4, 8]}},
    "neuron": {"type": "if", "v_reset": None, "imp": "learn", "v_threshold": "learn"},
    "data": {"name": "digits", "batch_size": 32},
    "loss": {"name": "lts"},
    "optim": {"name": "adamw", "lr": 0.01},
    "schedule": {"name": "constant"},
    "run": {"max_steps_per_epoch": 3, "progress": False, "plots": False},
}


def raw(**changes):
    out = copy.deepcopy(TINY)
    for key, value in changes.items():
        node = out
        *parents, leaf = key.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def cfg(**changes):
    return config_from_dict(raw(**changes))


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 2-epoch run folder; tests copy it before damaging it."""
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    train(cfg(), run_dir=run_dir, verbose=False)
    return run_dir


@pytest.fixture
def run_copy(finished, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(finished, dst)
    return dst


def cli(capsys, *argv):
    """``spikeforge ARGV`` in this process: (exit status, stderr lines)."""
    code = main([str(a) for a in argv])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip() and not line.startswith("[spike")]
    return code, err


def one_line(capsys, *argv, expect: str):
    code, err = cli(capsys, *argv)
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("spikeforge: error:"), err
    assert expect in err[0], err[0]
    return err[0]


def epochs_of(run_dir):
    return [r["epoch"] for r in RF.read_metrics(run_dir)]


# ----------------------------------------------------------------------------- 1. NaN
@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("neuron.v_threshold=.nan", "neuron.v_threshold must be a finite number"),
        ("neuron.v_threshold=-1.0", "neuron.v_threshold must be > 0"),
        ("neuron.v_threshold=0", "neuron.v_threshold must be > 0"),
        ("optim.lr=.nan", "optim.lr must be a finite number"),
        ("optim.lr=-0.1", "optim.lr must be > 0"),
        ("optim.neuron_lr=.nan", "optim.neuron_lr must be a finite number"),
        ("optim.neuron_lr=-1", "optim.neuron_lr must be > 0"),
        ("schedule.gamma=.nan", "schedule.gamma must be a finite number"),
        ("schedule.gamma=-0.5", "schedule.gamma must be > 0"),
        ("schedule.step_size=0", "schedule.step_size must be >= 1"),
        ("schedule.min_lr=-1", "schedule.min_lr must be >= 0"),
        ("run.max_steps_per_epoch=0", "run.max_steps_per_epoch must be >= 1"),
        ("run.max_steps_per_epoch=-3", "run.max_steps_per_epoch must be >= 1"),
        ("data.eval_batch_size=0", "data.eval_batch_size must be >= 1"),
        ("optim.weight_decay=.inf", "optim.weight_decay must be a finite number"),
        ("model.options.widths=[4, .nan]", "model.options.widths[1] must be a finite number"),
    ],
)
def test_nan_and_negative_values_are_rejected_at_load(capsys, tmp_path, setting, message):
    """F1.1: NaN or negative thresholds, learning rates, schedule values and sizes fail at load, before any data."""
    one_line(capsys, "train", "--set", setting, "--run-dir", tmp_path / "r", expect=message)
    assert not (tmp_path / "r").exists()  # refused before a run folder was made


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 2**63])
def test_a_seed_out_of_range_is_one_line_at_load(capsys, tmp_path, seed):
    """F1.4: a seed torch cannot take (2**64 overflowed in torch.manual_seed: a 25-line traceback, and an empty
    run folder left without --run-dir): one line at load, no run folder; 2**63 is refused too (ranks add their
    rank to the seed)."""
    out_dir = tmp_path / "runs"
    one_line(capsys, "train", "--set", f"seed={seed}", "--set", f"out_dir={out_dir}", expect="seed must be in [-2**63")
    assert not out_dir.exists()
    one_line(capsys, "train", "--set", f"seed={seed}", "--run-dir", tmp_path / "r", expect=f"got {seed}")
    assert not (tmp_path / "r").exists()


def _poison_after(monkeypatch, steps: int, param_suffix: str = "v_threshold"):
    """Make the optimiser write NaN into the first ``*param_suffix`` parameter after ``steps`` steps."""
    original = torch.optim.AdamW.step
    calls = {"n": 0}

    def step(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == steps:
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        if getattr(p, "_sf_poison", False):
                            p.fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", step)

    from spikeforge.train import optim as optim_module

    build = optim_module.build_optimizer

    def tagged(model, ocfg):
        name, p = next((n, p) for n, p in model.named_parameters() if n.endswith(param_suffix))
        p._sf_poison = True
        tagged.name = name
        return build(model, ocfg)

    monkeypatch.setattr("spikeforge.train.engine.build_optimizer", tagged)
    return tagged


def test_nan_parameters_never_reach_a_checkpoint(tmp_path, monkeypatch):
    """F1.2: a threshold that turns NaN mid-run (the loss stays finite: NaN thresholds just silence the layer)
    stops the run with one line naming the tensor, epoch and step; last.pt keeps the last good epoch."""
    _poison_after(monkeypatch, steps=5)  # 3 steps per epoch: NaN during epoch 2
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as info:
        train(cfg(epochs=3), run_dir=run_dir, verbose=False)
    msg = str(info.value)
    assert "\n" not in msg
    assert "parameter '" in msg and "non-finite values" in msg, msg
    assert "at epoch 2, step 3" in msg and "last.pt keeps epoch 1" in msg, msg
    ckpt = load_checkpoint(run_dir / "last.pt")
    assert ckpt["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert epochs_of(run_dir) == [1]  # the diverged epoch is not logged either
    monkeypatch.undo()
    res = train(cfg(epochs=3), resume=run_dir, verbose=False)  # the last good checkpoint resumes
    assert epochs_of(run_dir) == [1, 2, 3] and res.test_acc > 0.1


def test_resume_refuses_a_checkpoint_holding_nan(capsys, run_copy):
    """F1.3: a last.pt holding NaN (written by an older version) is refused by --resume with one line."""
    ckpt = load_checkpoint(run_copy / "last.pt")
    name = next(k for k, v in ckpt["model"].items() if v.is_floating_point())
    ckpt["model"][name].fill_(float("nan"))
    save_checkpoint(run_copy / "last.pt", ckpt)
    one_line(capsys, "train", "--resume", run_copy, expect=f"non-finite values in {name!r}")


# ----------------------------------------------------------------------------- 2. elastic restart
@pytest.mark.slow
def test_elastic_restart_resumes_from_the_last_checkpoint(tmp_path):
    """F2: torchrun --max-restarts=1, rank 1 killed with SIGKILL after epoch 2: the restarted group resumes
    from last.pt (metrics epochs [1, 2, 3], not [1, 1, 2, 3]) and finishes."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(raw(epochs=3, out_dir=str(tmp_path / "runs"))))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = Path(__file__).with_name("faults_worker.py")
    out = run_job(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            "--max-restarts=1",
            "--monitor-interval=0.5",
            str(worker),
            str(config),
            str(tmp_path / "ddp"),
        ],
        env=env,
        timeout_s=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "elastic restart 1: resuming" in out.stdout, out.stdout[-2000:]
    assert epochs_of(tmp_path / "ddp") == [1, 2, 3]
    assert load_checkpoint(tmp_path / "ddp" / "last.pt")["epoch"] == 2
    assert (tmp_path / "ddp" / "result.json").is_file()
    assert not list((tmp_path / ".elastic").glob("*"))  # the job's pointer is dropped when it finishes


# ----------------------------------------------------------------------------- 3. run-folder ownership
def test_a_second_writer_is_refused(capsys, run_copy):
    """F3.1: a run folder in use (its lock held by a live process) refuses a second training and a second resume."""
    with RF.RunLock(run_copy):
        one_line(capsys, "train", "--resume", run_copy, expect="is in use by another training")
        line = one_line(capsys, "train", "--run-dir", run_copy, "--overwrite", expect="is in use by another training")
        assert f"PID {os.getpid()}" in line
    assert epochs_of(run_copy) == [1, 2]  # nothing interleaved


def test_a_crashed_owner_does_not_leave_the_folder_stuck(tmp_path):
    """F3.2: the owner dies by SIGKILL while holding the lock: the next run takes the folder."""
    run_dir = tmp_path / "run"
    code = textwrap.dedent(
        f"""
        import os, signal
        from spikeforge.train.runfolder import RunLock
        RunLock({str(run_dir)!r}).acquire()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert (run_dir / "lock").is_file()  # left behind, as a crash leaves it
    with RF.RunLock(run_dir) as lock:
        assert lock.held


def test_a_stale_pid_lock_is_taken_over_and_a_live_one_is_not(tmp_path):
    """F3.3: where there is no flock, the lock file's PID decides: dead on this host = stale."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    (run_dir / "lock").write_text(json.dumps({"pid": dead.pid, "host": host, "started": "then"}))
    lock = RF.RunLock(run_dir)._acquire_pidfile()
    lock.release()
    (run_dir / "lock").write_text(json.dumps({"pid": os.getppid(), "host": host, "started": "now"}))
    with pytest.raises(RunFolderError, match="in use by another training"):
        RF.RunLock(run_dir)._acquire_pidfile()


def test_a_new_run_into_a_run_folder_needs_overwrite(capsys, run_copy, tmp_path):
    """F3.4: a new run into a folder that holds one is refused; --overwrite replaces it (no interleaving)."""
    one_line(capsys, "train", "--run-dir", run_copy, expect="already holds a finished run")
    assert epochs_of(run_copy) == [1, 2]
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(raw(epochs=1)))
    assert main(["train", str(config), "--run-dir", str(run_copy), "--overwrite"]) == 0
    assert epochs_of(run_copy) == [1]
    assert load_checkpoint(run_copy / "last.pt")["epoch"] == 0
    one_line(capsys, "train", config, "--overwrite", expect="--overwrite needs --run-dir")


def test_resume_applies_or_refuses_each_override_and_records_it(capsys, run_copy):
    """F3.5: --resume --set optim.lr is applied (config.yaml and overrides.jsonl record it, the optimiser uses it);
    a change of the model is refused with one line and changes nothing."""
    before = (run_copy / "last.pt").read_bytes()
    one_line(
        capsys,
        "train",
        "--resume",
        run_copy,
        "--set",
        "model.options.widths=[4, 16]",
        expect="cannot change model.options.widths ([4, 8] -> [4, 16])",
    )
    assert (run_copy / "last.pt").read_bytes() == before and not (run_copy / "overrides.jsonl").exists()
    assert main(["train", "--resume", str(run_copy), "--set", "optim.lr=0.002", "--set", "epochs=3"]) == 0
    assert epochs_of(run_copy) == [1, 2, 3]
    saved = yaml.safe_load((run_copy / "config.yaml").read_text())
    assert saved["optim"]["lr"] == 0.002 and saved["epochs"] == 3
    (line,) = [json.loads(x) for x in (run_copy / "overrides.jsonl").read_text().splitlines()]
    assert line["after_epoch"] == 2 and line["applied"] == {"epochs": [2, 3], "optim.lr": [0.01, 0.002]}
    ckpt = load_checkpoint(run_copy / "last.pt")
    assert {g["lr"] for g in ckpt["optimizer"]["param_groups"]} == {0.002}  # constant schedule: the new rate
    assert ckpt["config"]["optim"]["lr"] == 0.002


# ----------------------------------------------------------------------------- 4. best.pt / last.pt
def test_best_is_repaired_after_a_kill_between_the_two_writes(run_copy):
    """F4.1: a kill after last.pt and before best.pt of a best epoch: the resume rewrites best.pt from last.pt,
    so eval of best.pt agrees with result.json's best accuracy."""
    last = load_checkpoint(run_copy / "last.pt")
    last["best_epoch"], last["best_acc"] = last["epoch"], 0.999  # epoch 2 was the best one ...
    save_checkpoint(run_copy / "last.pt", last)
    stale = load_checkpoint(run_copy / "best.pt")
    stale["epoch"], stale["best_acc"] = 0, 0.5  # ... but best.pt still holds epoch 1
    stale["model"] = {k: v.clone() + (0.1 if v.is_floating_point() else 0) for k, v in stale["model"].items()}
    save_checkpoint(run_copy / "best.pt", stale)
    res = train(cfg(), resume=run_copy, verbose=False)
    best = load_checkpoint(run_copy / "best.pt")
    assert best["epoch"] == 1 and best["best_acc"] == 0.999 == res.best_acc
    for k, v in best["model"].items():
        assert torch.equal(v, last["model"][k]), k


def test_a_killed_write_leaves_no_temporary_behind(run_copy):
    """F4.2: leftover .last.pt.*.tmp files (a kill -9 during a write) are removed when the folder is next opened."""
    leftover = run_copy / ".last.pt.k3j4.tmp"
    leftover.write_bytes(b"half a checkpoint")
    train(cfg(), resume=run_copy, verbose=False)
    assert not leftover.exists() and not list(run_copy.glob(".*.tmp"))


# ----------------------------------------------------------------------------- 6. one line per fault
def test_zero_byte_checkpoint_is_one_line(capsys, run_copy):
    """F6.1: a zero-byte checkpoint (the formatter itself used to fail with IndexError)."""
    (run_copy / "best.pt").write_bytes(b"")
    one_line(capsys, "eval", run_copy, expect="is empty (0 bytes)")
    (run_copy / "last.pt").write_bytes(b"")
    one_line(capsys, "train", "--resume", run_copy, expect="is empty (0 bytes)")


@pytest.mark.parametrize("content", [b"not a checkpoint at all", None], ids=["junk", "truncated"])
def test_damaged_checkpoint_is_one_line(capsys, run_copy, content):
    """F6.2: junk bytes or a checkpoint cut in half."""
    data = (run_copy / "best.pt").read_bytes()
    (run_copy / "best.pt").write_bytes(content if content is not None else data[: len(data) // 2])
    one_line(capsys, "eval", run_copy, expect="cannot load checkpoint")


def test_disk_full_keeps_the_last_good_checkpoint(capsys, tmp_path, monkeypatch):
    """F6.3: ENOSPC while writing epoch 2's checkpoint: one line, last.pt of epoch 1 intact, no temporary left."""
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch") == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr("spikeforge.train.checkpoint.torch.save", save)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(raw()))
    run_dir = tmp_path / "run"
    line = one_line(capsys, "train", config, "--run-dir", run_dir, expect="no space left on the device")
    assert "last.pt" in line and "previous file is kept" in line
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == 0
    assert not list(run_dir.glob(".*.tmp")) and not (run_dir / "lock").exists()


class _FillingDisk:
    """A binary file on a disk that is full after ``room`` bytes: a write past it fails with ENOSPC."""

    def __init__(self, file, room: int = 4096) -> None:
        self.file, self.room = file, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/fd")
def test_disk_full_inside_torchs_zip_writer_is_one_line(capsys, tmp_path, monkeypatch):
    """F6.3b: the disk fills during epoch 2's last.pt write, inside torch's zip writer, which turns the ENOSPC
    of its write into `RuntimeError: [enforce fail at inline_container.cc] unexpected pos ...`: one line naming
    the file and the full disk; the temporary is removed and epoch 1's last.pt loads."""
    with open(tmp_path / "probe.pt", "wb") as f, pytest.raises(RuntimeError, match="unexpected pos"):
        torch.save({"w": torch.zeros(10_000)}, _FillingDisk(f))  # what torch does with it, unhandled

    real_fdopen = os.fdopen
    last_writes = []

    def fdopen(fd, *args, **kwargs):
        file = real_fdopen(fd, *args, **kwargs)
        if ".last.pt." in os.readlink(f"/proc/self/fd/{fd}"):  # save_checkpoint's temporary for last.pt
            last_writes.append(fd)
            if len(last_writes) == 2:
                return _FillingDisk(file)
        return file

    monkeypatch.setattr(os, "fdopen", fdopen)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(raw()))
    run_dir = tmp_path / "run"
    line = one_line(capsys, "train", config, "--run-dir", run_dir, expect="no space left on the device")
    assert f"cannot write {run_dir / 'last.pt'}" in line and "previous file is kept" in line
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == 0
    assert not list(run_dir.glob(".*.tmp")) and not (run_dir / "lock").exists()


_FSIZE_LIMITED_SAVE = """
import resource, signal, sys, torch
from spikeforge.train.checkpoint import save_checkpoint
save_checkpoint(sys.argv[1], {"epoch": 0, "w": torch.zeros(1_000)})  # the previous last.pt, 4 KB
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
save_checkpoint(sys.argv[1], {"epoch": 1, "w": torch.zeros(100_000)})  # 400 KB: cut short by the kernel
"""


def test_a_real_write_failure_inside_torchs_writer_is_one_line(tmp_path):
    """F6.3c: the same with a real kernel error (no root needed): a file-size limit (RLIMIT_FSIZE) cuts a later
    last.pt write short inside torch's writer; the error names the file, the previous last.pt loads."""
    path = tmp_path / "last.pt"
    out = subprocess.run(
        [sys.executable, "-c", _FSIZE_LIMITED_SAVE, str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last == (
        f"spikeforge.errors.RunFolderError: cannot write {path}: the file size limit was reached (ulimit -f); "
        "the previous file is kept"
    ), out.stderr[-2000:]
    assert load_checkpoint(path)["epoch"] == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_disk_full_in_the_metrics_file_is_one_line(capsys, tmp_path, monkeypatch):
    """F6.4: ENOSPC while appending a metrics record."""

    import builtins

    def full_open(path, mode="r", *args, **kwargs):
        if str(path).endswith("metrics.jsonl") and "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(RF, "open", full_open, raising=False)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(raw()))
    code, err = cli(capsys, "train", config, "--run-dir", tmp_path / "run")
    assert code == 2 and len(err) == 1 and "no space left" in err[0], err


def test_read_only_run_folder_is_one_line(capsys, run_copy, monkeypatch):
    """F6.5: a read-only run folder (EROFS; simulated, the suite may run as root where chmod does not bind)."""
    real_open = os.open

    def ro_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and str(path).startswith(str(run_copy)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", ro_open)
    one_line(capsys, "train", "--resume", run_copy, expect="the file system is read-only")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_run_folder_by_permissions(capsys, run_copy):
    """F6.5b: the same with real permissions (non-root machines)."""
    run_copy.chmod(0o555)
    try:
        one_line(capsys, "train", "--resume", run_copy, expect="permission denied")
    finally:
        run_copy.chmod(0o755)


def test_checkpoint_config_shape_mismatch_is_one_line(capsys, run_copy):
    """F6.6: a checkpoint evaluated with a config whose model has other shapes."""
    one_line(
        capsys,
        "eval",
        run_copy,
        "--set",
        "model.options.widths=[4, 16]",
        expect="does not fit the model its config builds: size mismatch for",
    )


def test_energy_input_faults_are_one_line(capsys, tmp_path):
    """F6.7: `energy --input FILE.pt`: missing, empty, junk, hostile pickle, not a tensor, wrong rank, wrong shape."""
    evil = tmp_path / "evil.pt"
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"x": Evil()}, evil)
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "junk.pt").write_bytes(b"\x00junk")
    torch.save({"a": torch.ones(2)}, tmp_path / "dict.pt")
    torch.save(torch.ones(4, 8), tmp_path / "flat.pt")
    torch.save(torch.ones(2, 1, 5, 5), tmp_path / "shape.pt")
    torch.save(torch.ones(2, 1, 3, 8, 8), tmp_path / "channels.pt")
    model = ["--model", "spiking_mlp", "--model-arg", "sizes=[64, 10]"]
    for name, expect in [
        ("missing.pt", "no such file"),
        ("empty.pt", "the file is empty"),
        ("junk.pt", "cannot load it"),
        ("evil.pt", "posix.system"),
        ("dict.pt", "expected a saved tensor"),
        ("flat.pt", "expected a [T, B, ...] tensor"),
        ("shape.pt", "first layer expects sizes[0]=64"),  # the model's own check
        ("channels.pt", "does not fit --model digits_convnet"),  # a RuntimeError deep in a conv
    ]:
        args = ["--model", "digits_convnet"] if name == "channels.pt" else model
        code = main(["energy", *args, "--input", str(tmp_path / name)])
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert code == 2 and len(err) == 1 and expect in err[0], (name, err)
    assert not marker.exists()  # the pickle's code never ran


def test_torn_final_metrics_line_is_skipped_on_resume(run_copy):
    """F6.8: a crash mid-write leaves a torn last line in metrics.jsonl: resume skips it."""
    with open(run_copy / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3, "train/lo')
    res = train(cfg(epochs=3), resume=run_copy, verbose=False)
    assert epochs_of(run_copy) == [1, 2, 3] and [r["epoch"] for r in res.history] == [1, 2, 3]


def test_a_torn_record_of_a_checkpointed_epoch_is_reported_on_resume(capsys, run_copy):
    """F6.8b: the record of epoch 2 torn while last.pt holds epoch 2 (metrics are not fsynced, checkpoints are:
    a power loss): the resume drops the torn line and says so in one line (epochs [1, 3] were silent)."""
    text = (run_copy / "metrics.jsonl").read_text()
    first, second = text.splitlines()
    (run_copy / "metrics.jsonl").write_text(first + "\n" + second[: len(second) // 2])
    train(cfg(epochs=3), resume=run_copy, verbose=False)
    err = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(err) == 1 and f"{run_copy / 'metrics.jsonl'} has no record of epoch 2" in err[0], err
    assert "last.pt holds epoch 2" in err[0]
    assert epochs_of(run_copy) == [1, 3]


def test_resume_keeps_the_runs_total_seconds(run_copy):
    """F4.3: `--resume` of a finished run kept only its own seconds in result.json (11.7 -> 2.1): a resume that
    trains nothing keeps the total; one that trains more adds its time to the checkpoint's count."""
    total = json.loads((run_copy / "result.json").read_text())["seconds"]
    train(cfg(), resume=run_copy, verbose=False)
    assert json.loads((run_copy / "result.json").read_text())["seconds"] == total
    last = load_checkpoint(run_copy / "last.pt")
    assert 0 < last["seconds"] <= total  # counted when the checkpoint was written
    save_checkpoint(run_copy / "last.pt", {**last, "seconds": 1000.0})  # a long run before this session
    res = train(cfg(epochs=3), resume=run_copy, verbose=False)
    assert 1000.0 < res.seconds < 1000.0 + 600
    assert json.loads((run_copy / "result.json").read_text())["seconds"] == res.seconds


def test_damaged_metrics_line_elsewhere_is_one_line(capsys, run_copy):
    """F6.9: a damaged line that is not the last one is corruption, not a crash: one line naming file:line."""
    lines = (run_copy / "metrics.jsonl").read_text().splitlines()
    (run_copy / "metrics.jsonl").write_text("\n".join(["{oops", *lines[1:]]) + "\n")
    one_line(capsys, "train", "--resume", run_copy, "--set", "epochs=3", expect="metrics.jsonl:1: not a JSON record")


def test_rejected_pickle_names_the_real_reason(capsys, run_copy):
    """F6.10: a hostile checkpoint (a pickled os.system call) is refused naming the global; nothing runs."""
    marker = run_copy / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"model": Evil(), "config": TINY}, run_copy / "best.pt")
    line = one_line(capsys, "eval", run_copy, expect="posix.system")
    assert "not a plain weights file" in line
    assert not marker.exists()


# ----------------------------------------------------------------------------- 9. debris of runs that never started
@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("precision=fp16", "precision fp16 needs a CUDA device"),  # was: a folder holding only config.yaml
        ("data.encoder=sequence", "data.encoder 'sequence' needs a temporal dataset"),  # was: an empty folder
    ],
)
def test_config_errors_found_late_leave_no_run_folder(capsys, tmp_path, setting, message):
    """F9.1: config errors that need the device or the dataset's kind fail before the run folder is made."""
    if setting.startswith("precision") and torch.cuda.is_available():
        pytest.skip("fp16 is valid with CUDA")
    out_dir = tmp_path / "runs"
    one_line(capsys, "train", "--set", setting, "--set", f"out_dir={out_dir}", expect=message)
    one_line(capsys, "train", "--set", setting, "--run-dir", tmp_path / "r", expect=message)
    assert not out_dir.exists() and not (tmp_path / "r").exists()


def test_a_start_that_fails_after_the_folder_is_made_removes_what_it_made(capsys, tmp_path):
    """F9.2: an error found once the folder exists (here: the dataset's files are missing) removes what the
    start made: the folder it created, or in a folder the user gave, the run's own files (theirs stay)."""
    config = tmp_path / "nmnist.yaml"
    config.write_text(yaml.safe_dump(raw(data={"name": "nmnist", "root": str(tmp_path / "nowhere")})))
    out_dir = tmp_path / "runs"
    one_line(capsys, "train", config, "--set", f"out_dir={out_dir}", expect="nowhere")
    assert list(out_dir.iterdir()) == []  # the NAME-TIMESTAMP folder is gone
    given = tmp_path / "given"
    given.mkdir()
    (given / "notes.txt").write_text("mine")
    one_line(capsys, "train", config, "--run-dir", given, expect="nowhere")
    assert sorted(p.name for p in given.iterdir()) == ["notes.txt"]


def test_a_run_that_recorded_an_epoch_keeps_its_folder(tmp_path):
    """F9.3: the clean-up of F9.2 never touches a run that recorded an epoch (it resumes from last.pt)."""

    def fail_after_first_epoch(epoch, record):
        raise RunFolderError("stopped after epoch 1")

    with pytest.raises(RunFolderError):
        train(cfg(), run_dir=tmp_path / "r", callbacks=[fail_after_first_epoch], verbose=False)
    assert epochs_of(tmp_path / "r") == [1] and (tmp_path / "r" / "last.pt").is_file()


@pytest.mark.parametrize(("restart", "max_restarts", "kept"), [(0, 0, False), (0, 1, True), (1, 1, False)])
def test_an_elastic_job_that_fails_for_good_leaves_no_pointer(tmp_path, monkeypatch, restart, max_restarts, kept):
    """F9.4: a torchrun job's pointer `.elastic/<job id>` beside --run-dir is written only while torchrun may still
    restart the group, and dropped by its last attempt: a job that fails without restarts (or on its last one)
    left it behind for good."""
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-42")
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", str(restart))
    monkeypatch.setenv("TORCHELASTIC_MAX_RESTARTS", str(max_restarts))
    if restart:  # the pointer of the attempt before, with its checkpoint
        train(cfg(epochs=1), run_dir=tmp_path / "r", verbose=False)
        RF.remember_elastic_run_dir(tmp_path, "job-42", tmp_path / "r")

    def fail(epoch, record):
        raise RunFolderError("a rank failed")

    with pytest.raises(RunFolderError):
        train(cfg(), run_dir=tmp_path / "r", callbacks=[fail], verbose=False)
    assert (tmp_path / ".elastic" / "job-42").is_file() == kept
    if not kept:
        assert not (tmp_path / ".elastic").exists()


@pytest.mark.parametrize("text", ["model: digits_convnet\n", '{"epoch": 2}\n', "epoch,train/loss\n1,0.5\n"])
def test_a_text_file_given_as_a_checkpoint_is_one_line(capsys, run_copy, text):
    """F6.11: a text file as best.pt (a config or metrics saved under the wrong name) was reported with torch's
    unpickler text ("Please file an issue ... weights_only=True"): one line saying what the file is."""
    (run_copy / "best.pt").write_text(text)
    line = one_line(capsys, "eval", run_copy, expect="it is a text file, not a PyTorch checkpoint")
    assert f"cannot load checkpoint {run_copy / 'best.pt'}" in line and "file an issue" not in line


def test_analyze_imp_reads_checkpoints_as_one_line(capsys, tmp_path):
    """F6.12: `analyze pattern-mapping --imp FILE` on a hostile pickle printed torch's 7-line message, and a text
    file its unpickler text: one line each naming the file; the pickle's code never runs."""
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"imp": Evil()}, tmp_path / "evil.pt")
    (tmp_path / "notes.pt").write_text("imp: 0.25\n")
    for name, expect in [("evil.pt", "posix.system"), ("notes.pt", "it is a text file")]:
        path = tmp_path / name
        code = main(["analyze", "pattern-mapping", "--imp", str(path), "--out", str(tmp_path / "out")])
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert code == 2 and len(err) == 1, err
        assert f"--imp {path}: cannot load checkpoint {path}" in err[0] and expect in err[0], err
    assert not marker.exists()


# ----------------------------------------------------------------------------- 7. untrusted paths
def test_eval_never_follows_paths_from_a_checkpoint(capsys, run_copy, tmp_path):
    """F7: a checkpoint whose config names out_dir, data.root and model.init_from somewhere else: eval uses none
    of them (nothing is written or read there) unless the user says so."""
    elsewhere = tmp_path / "elsewhere"
    ckpt = load_checkpoint(run_copy / "best.pt")
    ckpt["config"]["out_dir"] = str(elsewhere / "out")
    ckpt["config"]["data"]["root"] = str(elsewhere / "data")
    ckpt["config"]["model"]["init_from"] = str(elsewhere / "weights.pt")  # would fail to load if it were read
    save_checkpoint(run_copy / "best.pt", ckpt)
    res = evaluate_run(run_copy, verbose=False)
    err = capsys.readouterr().err
    assert "ignoring out_dir=" in err and "ignoring model.init_from" not in err
    assert 0 <= res["acc"] <= 1 and not elsewhere.exists()

    ckpt["config"]["data"] = {"name": "nmnist", "root": str(elsewhere / "nmnist"), "options": {}}
    save_checkpoint(run_copy / "best.pt", ckpt)
    line = one_line(capsys, "eval", run_copy, expect="reads files from disk: give --data ROOT")
    assert str(elsewhere / "nmnist") in line and "--trust-paths" in line
    assert not elsewhere.exists()


def test_eval_refuses_weights_before_building_the_data(capsys, run_copy, tmp_path, monkeypatch):
    """F7.2: a checkpoint whose config names sim_event_digits and whose weights do not fit the model that config
    builds: refused before the data (1,799 simulated recordings, 34 MB) is generated."""
    monkeypatch.setenv("SPIKEFORGE_CACHE_DIR", str(tmp_path / "cache"))  # where sim_event_digits would be written
    ckpt = load_checkpoint(run_copy / "best.pt")
    ckpt["config"]["data"] = {"name": "sim_event_digits", "options": {}}
    ckpt["config"]["model"]["options"]["widths"] = [4, 16]
    save_checkpoint(run_copy / "best.pt", ckpt)
    one_line(capsys, "eval", run_copy, expect="does not fit the model its config builds: size mismatch for")
    assert not (tmp_path / "cache").exists()


# ----------------------------------------------------------------------------- 8. empty test split
def test_empty_test_split_is_reported_before_training(capsys, tmp_path):
    """F8: a dataset whose test split is empty fails before the first epoch, not after it."""
    from torch.utils.data import TensorDataset

    from spikeforge.data.registry import DATASETS, register_dataset

    @register_dataset("faults_empty_test", "static", 10, needs_root=False)
    def _empty(root, split, T):
        n = 64 if split == "train" else 0
        return TensorDataset(torch.rand(n, 1, 8, 8), torch.randint(0, 10, (n,)))

    try:
        with pytest.raises(SpikeForgeError, match="the test split is empty") as info:
            train(cfg(data={"name": "faults_empty_test", "batch_size": 32}), run_dir=tmp_path / "r", verbose=False)
        assert "\n" not in str(info.value)
        assert not (tmp_path / "r" / "metrics.jsonl").exists()  # no epoch was trained
    finally:
        DATASETS.pop("faults_empty_test", None)


# ----------------------------------------------------------------------------- settings, errors, collectives
def test_global_torch_settings_are_restored_after_a_run(tmp_path):
    """A run with run.threads and run.deterministic leaves the process as it found it (sweeps run many)."""
    torch.set_num_threads(1)
    assert not torch.are_deterministic_algorithms_enabled()
    train(
        cfg(epochs=1, run__threads=2, run__deterministic=True, run__checkpoint=False),
        run_dir=tmp_path / "r",
        verbose=False,
    )
    assert torch.get_num_threads() == 1 and not torch.are_deterministic_algorithms_enabled()


def test_only_spikeforge_errors_are_user_errors(capsys, monkeypatch):
    """A bug (a plain ValueError deep inside) keeps its traceback; SpikeForge's own errors are one line."""
    from spikeforge import commands as cli_module

    def bug(args):
        raise ValueError("too many values to unpack (expected 2)")

    # the handler is the registered command's (spikeforge.command_registry), replaced for this test
    cli_module._register_commands()
    monkeypatch.setitem(
        cli_module.COMMANDS, "configs", dataclasses.replace(cli_module.COMMANDS["configs"], handler=bug)
    )
    with pytest.raises(ValueError, match="too many values"):
        main(["configs"])
    assert not cli_module._is_user_error(ValueError("x")) and not cli_module._is_user_error(ImportError("x"))
    assert cli_module._is_user_error(ConfigError("x")) and cli_module._is_user_error(RunFolderError("x"))
    assert cli_module._is_user_error(OSError(errno.ENOSPC, "full"))


def test_staging_puts_collective_tensors_on_the_backend_device(monkeypatch):
    """The device rule of NCCL, simulated: a tensor on another device is staged on the backend's device."""
    monkeypatch.setattr(D, "backend_device", lambda: torch.device("meta"))
    t = torch.ones(3)
    assert D._staged(t).device.type == "meta" and t.device.type == "cpu"


def _collective_rank(rank: int, world: int, init_file: str, run_dir: str, calls_file: str) -> None:
    """One rank of the CUDA-style collectives test.

    NCCL's rule is that a collective's tensors live on the current CUDA device; gloo accepts any
    CPU tensor, so a CPU-only run cannot break the rule by itself. The rule is simulated instead:
    every tensor a SpikeForge module hands to a collective must have come out of
    ``distributed._staged`` (which moves it to :func:`backend_device`, the current GPU under
    NCCL; ``test_staging_puts_collective_tensors_on_the_backend_device`` checks that move) and
    live on the backend's device. A raw tensor from the engine or a monitor fails the run.
    """
    import torch.distributed as dist

    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    torch.set_num_threads(1)
    D.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world, timeout=GROUP_TIMEOUT)
    calls: list[str] = []
    staged: set[int] = set()
    real_staged = D._staged

    def tracking_staged(t):
        out = real_staged(t)
        staged.add(out.data_ptr())
        return out

    D._staged = tracking_staged
    inputs_at = {"all_reduce": 0, "all_gather": 1, "broadcast": 0, "reduce": 0, "all_gather_into_tensor": 1}

    def checked(name, fn):
        def wrapper(*args, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            for a in args[:2]:
                for t in a if isinstance(a, list) else [a]:
                    if isinstance(t, torch.Tensor):
                        assert t.device == D.backend_device(), (name, caller, t.device)
            assert caller.startswith(("spikeforge.distributed", "torch.")), (name, caller)
            if caller.startswith("spikeforge."):
                assert args[inputs_at[name]].data_ptr() in staged, f"{name} from {caller}: tensor not staged"
            calls.append(f"{name}:{caller}")
            return fn(*args, **kwargs)

        return wrapper

    for name in inputs_at:
        torch.distributed.__dict__[name] = checked(name, getattr(dist, name))
    train(cfg(epochs=2, run__monitor=True), run_dir=run_dir, verbose=False)
    Path(calls_file).write_text("\n".join(calls))


@pytest.mark.slow
def test_ddp_collectives_follow_the_cuda_device_rule(tmp_path):
    """A 2-process gloo DDP run, monitors on, in which every collective is checked against the device rule."""
    spawn_ranks(_spawn_entry, (2, str(tmp_path / "init"), str(tmp_path / "run"), str(tmp_path)))
    calls = (tmp_path / "calls0.txt").read_text().splitlines()
    ours = [c for c in calls if c.split(":")[1].startswith("spikeforge.")]
    assert ours and all(c.split(":")[1] == "spikeforge.distributed" for c in ours)
    assert any(c.startswith("all_reduce:") for c in ours)  # metrics, monitors
    assert any(c.startswith("all_gather:") for c in ours)  # check_in_sync
    # the monitors' merges (min/max layer-count checks, count sums) are among them: well over the engine's own
    assert len([c for c in ours if c.startswith("all_reduce:")]) >= 10
    assert epochs_of(tmp_path / "run") == [1, 2]
    records = RF.read_metrics(tmp_path / "run")
    assert any(k.startswith(RF.MONITOR_PREFIX) for k in records[-1])


def _spawn_entry(rank: int, world: int, init_file: str, run_dir: str, out: str) -> None:
    _collective_rank(rank, world, init_file, run_dir, str(Path(out) / f"calls{rank}.txt"))


def test_no_engine_module_calls_collectives_directly():
    """Collectives on tensors live in spikeforge/distributed.py only (where the device rule is applied)."""
    import re

    root = Path(__file__).resolve().parent.parent / "spikeforge"
    offenders = [
        f"{p.relative_to(root)}:{n}"
        for p in root.rglob("*.py")
        if p.name != "distributed.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"dist\.(all_reduce|all_gather|broadcast|reduce)\(", line)
    ]
    assert offenders == []
