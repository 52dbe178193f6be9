"""The multi-process test helpers end a hung rank or job with a failure that says where (tests/ranks.py)."""

import faulthandler
import sys
import time

import pytest
import torch.multiprocessing as mp

from .ranks import run_job, spawn_ranks


def _rank_that_hangs_in_python(rank: int) -> None:
    if rank == 1:
        time.sleep(3600)


def _ranks_that_hang_past_their_watchdog(rank: int) -> None:
    faulthandler.cancel_dump_traceback_later()  # as if stuck where the watchdog no longer runs
    time.sleep(3600)


def test_a_rank_stuck_in_python_prints_its_stack_and_fails_the_test(capfd):
    start = time.monotonic()
    with pytest.raises(mp.ProcessExitedException, match="process 1 terminated with exit code 1"):
        spawn_ranks(_rank_that_hangs_in_python, timeout_s=3.0, grace_s=60.0)
    assert time.monotonic() - start < 45
    err = capfd.readouterr().err
    assert "Timeout" in err and "_rank_that_hangs_in_python" in err  # faulthandler's dump names the frame


def test_ranks_stuck_past_their_watchdog_are_killed_at_the_deadline():
    start = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match=r"ranks \[0, 1\] still running 4 s after the start: killed"):
        spawn_ranks(_ranks_that_hang_past_their_watchdog, timeout_s=1.0, grace_s=3.0)
    assert time.monotonic() - start < 45


def test_a_job_past_its_time_is_killed_with_its_children(tmp_path):
    """Its child runs in a session of its own and holds the job's output pipes, as torchrun's workers do."""
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'], start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(3600)\n"
    )
    with pytest.raises(pytest.fail.Exception, match=r"ran past 5 s: killed\nstarted"):
        run_job([sys.executable, "-c", script], timeout_s=5.0)
    child = int(pid_file.read_text())
    for _ in range(50):  # the child was killed with the job; give the kernel a moment to reap it
        try:
            with open(f"/proc/{child}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the job's child {child} is still running")
