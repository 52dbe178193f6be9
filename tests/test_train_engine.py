"""End-to-end engine behaviour: training, resume equals uninterrupted, NaN stop, eval, DDP."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from spikeforge import distributed as D
from spikeforge.train.config import config_from_dict
from spikeforge.train.engine import TrainingDiverged, train
from spikeforge.train.evaluate import evaluate_run

from .ranks import GROUP_TIMEOUT, run_job, spawn_ranks

TINY = {
    "name": "tiny",
    "T": 2,
    "epochs": 3,
    "model": {"name": "digits_convnet", "options": {"widths": [4, 8]}},
    "neuron": {"type": "if", "v_reset": None, "imp": "learn", "v_threshold": "learn"},
    "data": {"name": "digits", "batch_size": 32},
    "loss": {"name": "lts"},
    "optim": {"name": "adamw", "lr": 0.01, "weight_decay": 0.01},
    "augment": {"mixup": 0.2},
    "run": {"max_steps_per_epoch": 4, "progress": False},
}


def cfg(**over):
    raw = json.loads(json.dumps(TINY))
    for k, v in over.items():
        raw[k] = v
    return config_from_dict(raw)


class Interrupt(Exception):
    pass


def test_run_folder_contents(tmp_path):
    res = train(cfg(), run_dir=tmp_path / "run", verbose=False)
    run = tmp_path / "run"
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "metrics.csv",
        "curves.png",
        "last.pt",
        "best.pt",
        "result.json",
        "accuracy_per_step.png",
    ):
        assert (run / name).is_file(), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert len(records[-1]["test/acc_step"]) == 2 and records[-1]["test/acc_cum"][-1] >= 0
    assert res.test_acc == records[-1]["test/acc"]
    # LTS reads out the last step: its accuracy is the last per-step accuracy
    assert res.test_acc == pytest.approx(res.acc_per_step[-1])
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["options"]["widths"] == [4, 8]
    ev = evaluate_run(run, which="last", verbose=False)
    assert ev["acc"] == pytest.approx(res.test_acc)


def test_resume_ends_with_the_same_weights_as_an_uninterrupted_run(tmp_path):
    full = train(cfg(), run_dir=tmp_path / "full", verbose=False)

    def stop_after_first(epoch, record):
        if epoch == 0:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(cfg(), run_dir=tmp_path / "cut", callbacks=[stop_after_first], verbose=False)
    resumed = train(cfg(), resume=tmp_path / "cut", verbose=False)

    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert any(k.endswith(".imp") for k in a["model"]) and any(k.endswith(".v_threshold") for k in a["model"])
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert resumed.test_acc == full.test_acc


def test_nan_loss_stops_with_epoch_and_step(tmp_path):
    # spikes are robust to NaN inputs (NaN >= theta is False), so poison the loss's regulariser target
    bad = cfg(loss={"name": "tet", "options": {"lam": 0.5, "phi": float("nan")}})
    with pytest.raises(TrainingDiverged, match=r"at epoch 1, step 1"):
        train(bad, run_dir=tmp_path / "nan", verbose=False)


def _spikeforge(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "spikeforge", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


def test_cli_user_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lrr: 0.1\n")
    for args, msg in [
        (["train", str(tmp_path / "missing.yaml")], "neither a file nor a shipped config"),
        (["train", str(bad)], "unknown config key 'optim.lrr'"),
        (["train", "--set", "model.name=resnet9000"], "unknown model"),
        (["train", "--set", "neuron.tau=0.5", "--set", "neuron.type=lif"], "tau must be > 1"),
        (["eval", str(tmp_path / "nothing")], "no such run folder"),
    ]:
        out = _spikeforge(*args, cwd=tmp_path)
        assert out.returncode == 2, (args, out.stderr)
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("spikeforge: error:") and msg in lines[0], out.stderr


def test_cli_lists_configs():
    out = _spikeforge("configs")
    assert out.returncode == 0 and "digits_imp_lts" in out.stdout


def test_ddp_two_cpu_processes_stay_in_sync(tmp_path):
    config = tmp_path / "tiny.yaml"
    raw = json.loads(json.dumps(TINY))
    raw["epochs"] = 2
    config.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = run_job(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            "-m",
            "spikeforge",
            "train",
            str(config),
            "--run-dir",
            str(tmp_path / "ddp"),
        ],
        env=env,
        timeout_s=300,
    )
    assert out.returncode == 0, out.stdout[-1500:] + out.stderr[-3000:]  # stdout: how far the ranks got
    assert "ranks in sync" in out.stdout and "world 2" in out.stdout
    assert (tmp_path / "ddp" / "last.pt").is_file()
    ckpt = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    assert len(ckpt["rng"]) == 2  # both ranks' RNG states, for exact resume


def _ddp_worker(rank, world, init_file, batch_file, out_dir):
    from spikeforge import materialize
    from spikeforge.losses import TETLoss
    from spikeforge.models.registry import build_model

    x, y = torch.load(batch_file, weights_only=True)
    D.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world, timeout=GROUP_TIMEOUT)
    torch.manual_seed(rank)  # different init per rank: DDP must broadcast rank 0's parameters
    model = build_model(
        "spiking_mlp",
        sizes=[64, 16, 10],
        spiking_output=False,
        neuron={"type": "lif", "imp": "learn", "v_threshold": "learn", "v_reset": None},
    )
    materialize(model, x[:, :1])
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.5)
    half = x.shape[1] // world
    xs, ys = x[:, rank * half : (rank + 1) * half], y[rank * half : (rank + 1) * half]
    for _ in range(3):
        opt.zero_grad()
        TETLoss()(ddp(xs), ys).backward()
        opt.step()
    torch.save(model.state_dict(), Path(out_dir) / f"rank{rank}.pt")
    # as the engine does: the wrapper goes before the group (distributed.cleanup says why), and no
    # rank tears the group down while a peer still uses it
    del ddp
    D.cleanup(synchronize=True)


def _thread_names() -> list[str]:
    return sorted(p.read_text().strip() for p in Path("/proc/self/task").glob("*/comm"))


def _teardown_worker(rank, world, port, out_dir):
    import time

    os.environ.update(
        {"RANK": str(rank), "WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    )
    D.setup(torch.device("cpu"))
    net = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(3, 2))  # the engine's wrapper
    net(torch.rand(4, 3)).sum().backward()
    del net
    out = Path(out_dir)
    if rank == 0:  # the main rank's end of run: plots and result.json after the last collective
        time.sleep(1.0)
        (out / "result.json").write_text("{}")
    D.cleanup(synchronize=True)
    if rank == 1:
        (out / "rank1_left_after_result.txt").write_text(str((out / "result.json").is_file()))
    (out / f"threads{rank}.json").write_text(json.dumps(_thread_names()))


def test_a_failed_ddp_run_drops_its_wrapper_before_the_group(tmp_path, monkeypatch):
    """A run failing under DDP frees its DDP wrapper before the process group is torn down.

    The traceback would otherwise keep the wrapper alive past ``cleanup``; freed later, its Reducer
    destroys the gloo group while holding the GIL, which can deadlock against a gloo worker thread
    (see ``distributed.cleanup``). Ranks and group are faked: only the order is checked here.
    """
    import weakref

    import spikeforge.train.engine as E

    wrappers: list[weakref.ref] = []

    class FakeDDP(torch.nn.Module):
        def __init__(self, module, device_ids=None):
            super().__init__()
            self.module = module
            wrappers.append(weakref.ref(self))

        def forward(self, *args, **kwargs):
            return self.module(*args, **kwargs)

    alive_at_cleanup = []
    monkeypatch.setattr(E.D, "setup", lambda device: D.DistEnv(rank=0, world_size=2))
    monkeypatch.setattr(E.D, "cleanup", lambda synchronize=False: alive_at_cleanup.append(wrappers[0]() is not None))
    monkeypatch.setattr(E.nn.parallel, "DistributedDataParallel", FakeDDP)
    monkeypatch.setattr(E, "_gather_rng", lambda env: [E.get_rng_state()] * env.world_size)

    def stop(epoch, record):
        raise Interrupt

    with pytest.raises(Interrupt):
        train(cfg(), run_dir=tmp_path / "run", callbacks=[stop], verbose=False)
    assert len(wrappers) == 1 and alive_at_cleanup == [False]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the threads from /proc")
def test_ranks_leave_together_and_free_the_process_group(tmp_path):
    """A finished rank leaves only after the main rank wrote its files, and the process group is gone by then.

    A rank leaving early could abort at exit and make torchrun SIGTERM the main rank mid-write; a
    group kept alive past destroy_process_group (DDP importing torch._dynamo after it was created)
    leaves gloo's threads running into interpreter exit, where a closing peer can abort the process.
    """
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spawn_ranks(_teardown_worker, (2, port, str(tmp_path)))
    assert (tmp_path / "rank1_left_after_result.txt").read_text() == "True"
    for rank in (0, 1):
        threads = json.loads((tmp_path / f"threads{rank}.json").read_text())
        assert not [t for t in threads if "gloo" in t], (rank, threads)


def test_ddp_equals_single_process_on_the_concatenated_batch(tmp_path):
    """Two ranks with half a batch each take the same steps as one process with the whole batch."""
    from spikeforge import materialize
    from spikeforge.losses import TETLoss
    from spikeforge.models.registry import build_model

    torch.manual_seed(0)
    x = torch.rand(3, 16, 64) * 2
    y = torch.randint(0, 10, (16,))
    # the batch goes by file: tensors as spawn arguments would travel through torch's shared-memory file descriptors
    torch.save((x, y), tmp_path / "batch.pt")
    spawn_ranks(_ddp_worker, (2, str(tmp_path / "init"), str(tmp_path / "batch.pt"), str(tmp_path)))
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)

    torch.manual_seed(0)  # rank 0's initialisation
    model = build_model(
        "spiking_mlp",
        sizes=[64, 16, 10],
        spiking_output=False,
        neuron={"type": "lif", "imp": "learn", "v_threshold": "learn", "v_reset": None},
    )
    materialize(model, x[:, :1])
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        # mean over ranks of per-half mean losses == mean over the whole batch (equal halves)
        TETLoss()(model(x), y).backward()
        opt.step()
    single = model.state_dict()
    assert set(r0) == set(single) and any(k.endswith("imp") for k in r0)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
        torch.testing.assert_close(r0[k], single[k], rtol=1e-5, atol=1e-6)
