"""Multi-process test runs that end: local ranks and torchrun jobs with a deadline (not collected by pytest).

A distributed test whose rank hangs (a collective a peer never joins, a teardown that never
returns) would otherwise block the whole suite until CI kills it, with no word of where. Here:

* every rank arms :func:`faulthandler.dump_traceback_later`, so a rank stuck in Python prints its
  stack into the test's captured output and exits non-zero;
* the test's process groups time out too (:data:`GROUP_TIMEOUT`), so a collective a peer left
  fails instead of waiting gloo's default 30 minutes;
* the parent kills whatever is still alive at the deadline (a rank stuck in C++ at exit) and fails
  the test with that rank's name.
"""

from __future__ import annotations

import contextlib
import datetime
import faulthandler
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

#: How long one rank of a test may run, from its start to its exit.
RANK_TIMEOUT_S = 240.0
#: A test process group's collectives fail after this long instead of gloo's default 30 minutes.
GROUP_TIMEOUT = datetime.timedelta(seconds=120)


def _rank_entry(rank: int, fn: Callable[..., None], timeout_s: float, args: tuple) -> None:
    # exit=True: a rank stuck past its deadline prints every thread's stack and leaves with code 1
    faulthandler.dump_traceback_later(timeout_s, exit=True)
    fn(rank, *args)


def spawn_ranks(
    fn: Callable[..., None],
    args: Sequence[Any] = (),
    nprocs: int = 2,
    timeout_s: float = RANK_TIMEOUT_S,
    grace_s: float = 30.0,
) -> None:
    """Run ``fn(rank, *args)`` in ``nprocs`` fresh processes (spawn) and wait for all of them.

    ``fn`` must be a module-level function (it is pickled). A rank that raises or exits non-zero
    fails the test as :func:`torch.multiprocessing.spawn` would; so does one still in Python after
    ``timeout_s`` (its watchdog prints its stack and ends it). One still alive ``grace_s`` later
    (stuck where Python's watchdog no longer runs) is killed, with its peers, and the test fails
    naming it.
    """
    import torch.multiprocessing as mp

    context = mp.start_processes(
        _rank_entry, args=(fn, timeout_s, tuple(args)), nprocs=nprocs, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + timeout_s + grace_s  # the ranks' own watchdogs go first
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            alive = [rank for rank, p in enumerate(context.processes) if p.is_alive()]
            for p in context.processes:
                if p.is_alive():
                    p.kill()
                p.join(5.0)
            pytest.fail(f"ranks {alive} still running {timeout_s + grace_s:.0f} s after the start: killed")


def run_job(cmd: Sequence[str], timeout_s: float = 300.0, **kwargs: Any) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True, text=True)`` for a job that starts processes of its own (torchrun).

    Past ``timeout_s`` the job is killed with every process it started, and the test fails with
    what the job had printed. torchrun starts each worker in a session of its own, so killing the
    job's process group would leave a hung worker running, holding the job's output pipes open.
    """
    with subprocess.Popen(
        list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs
    ) as job:
        try:
            stdout, stderr = job.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            for pid in _descendants(job.pid):  # listed while the job lives: an orphan loses its parent
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            os.killpg(job.pid, signal.SIGKILL)  # the job and its own group (all there is without /proc)
            stdout, stderr = job.communicate()
            head = " ".join(cmd[:6])
            pytest.fail(f"{head} ... ran past {timeout_s:.0f} s: killed\n{stdout[-1500:]}\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(job.args, job.returncode, stdout, stderr)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, theirs, ...), from ``/proc`` (empty where there is none)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])  # the name in (...) may hold spaces
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
