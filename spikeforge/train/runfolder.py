"""The run folder: its file names, its one reader and writer, and its owner lock.

Every module that reads or writes a run folder goes through this one. A run folder holds:

==================  ==========================================================================
``config.yaml``     the resolved config (``spikeforge train RUN/config.yaml`` reproduces it)
``metrics.jsonl``   one JSON record per epoch (keys: spikeforge.records); ``metrics.csv`` holds its scalars
``last.pt``         the checkpoint of the last finished epoch (exact resume)
``best.pt``         the model of the epoch with the best ``test/acc``
``result.json``     written when the run finishes: final and best accuracy, per-step accuracy
``overrides.jsonl`` one line per ``--resume`` that changed the config: what was applied
``lock``            present while a process writes the folder (PID, host, start time)
==================  ==========================================================================

The record keys are defined in :mod:`spikeforge.records` (this module re-exports them for its readers).

The lock is an advisory ``flock`` on ``RUN/lock``: the kernel drops it when its owner dies,
so a crashed run never leaves the folder stuck; a second writer is refused with one line
naming the owner. Where the file system has no ``flock``, the file itself is the lock and a
lock whose PID is dead on this host is taken over.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import errno
import json
import os
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import RunFolderError
from ..records import (  # the record keys live in spikeforge.records; re-exported for the run folder's readers
    ALL_LAYERS,
    DEAD_FRACTION,
    DEAD_FRACTION_SAMPLE,
    EPOCH,
    FIRING_RATE,
    INIT_PREFIX,
    LR,
    MONITOR_PREFIX,
    RESULT_ACC_CUMULATIVE,
    RESULT_ACC_PER_STEP,
    RESULT_BEST_ACC,
    RESULT_DIVERGED,
    RESULT_SECONDS,
    RESULT_TEST_ACC,
    TEST_ACC,
    TEST_ACC_CUM,
    TEST_ACC_STEP,
    TEST_LOSS,
    THRESHOLD_MEAN,
    TIME_S,
    TRAIN_ACC,
    TRAIN_DEAD_FRACTION,
    TRAIN_LOSS,
    TRAIN_SAMPLES_PER_S,
    WEIGHT_CHANGE,
    initial_metric,
    is_monitor_key,
    monitor_key,
    parse_monitor_key,
)

__all__ = [
    "ALL_LAYERS",
    "BEST",
    "CONFIG",
    "CURVES_PNG",
    "DEAD_FRACTION",
    "DEAD_FRACTION_SAMPLE",
    "EPOCH",
    "FIRING_RATE",
    "INIT_PREFIX",
    "LAST",
    "LOCK",
    "LR",
    "METRICS",
    "METRICS_CSV",
    "MONITOR_PREFIX",
    "OVERRIDES",
    "RESULT",
    "RESULT_ACC_CUMULATIVE",
    "RESULT_ACC_PER_STEP",
    "RESULT_BEST_ACC",
    "RESULT_DIVERGED",
    "RESULT_SECONDS",
    "RESULT_TEST_ACC",
    "RUN_FILES",
    "STEP_ACCURACY_PNG",
    "TENSORBOARD",
    "TEST_ACC",
    "TEST_ACC_CUM",
    "TEST_ACC_STEP",
    "TEST_LOSS",
    "THRESHOLD_MEAN",
    "TIME_S",
    "TRAIN_ACC",
    "TRAIN_DEAD_FRACTION",
    "TRAIN_LOSS",
    "TRAIN_SAMPLES_PER_S",
    "WEIGHT_CHANGE",
    "MetricsFileError",
    "RunLock",
    "append_record",
    "atomic_write_text",
    "clear_run",
    "holds_run",
    "initial_metric",
    "is_monitor_key",
    "monitor_key",
    "os_error_message",
    "parse_monitor_key",
    "read_metrics",
    "read_result",
    "record_overrides",
    "remove_stale_temporaries",
    "write_metrics_csv",
    "write_records",
    "write_result",
]

# ----------------------------------------------------------------------------- file names
CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
LAST = "last.pt"
BEST = "best.pt"
RESULT = "result.json"
OVERRIDES = "overrides.jsonl"
LOCK = "lock"
CURVES_PNG = "curves.png"
STEP_ACCURACY_PNG = "accuracy_per_step.png"
TENSORBOARD = "tensorboard"
ELASTIC_DIR = ".elastic"  # under out_dir: which run folder an elastic job (TORCHELASTIC_RUN_ID) writes

#: The files a run writes: ``--overwrite`` removes exactly these (never anything else in the folder).
RUN_FILES = (CONFIG, METRICS, METRICS_CSV, LAST, BEST, RESULT, OVERRIDES, CURVES_PNG, STEP_ACCURACY_PNG)


# ----------------------------------------------------------------------------- reading
class MetricsFileError(RunFolderError, ValueError):
    """``metrics.jsonl`` is damaged (a bad line other than a torn final one)."""


def _metrics_path(run_dir_or_file: str | os.PathLike[str]) -> Path:
    p = Path(run_dir_or_file)
    return p / METRICS if p.is_dir() else p


def read_metrics(run_dir_or_file: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``RUN/metrics.jsonl`` (or of the given ``.jsonl`` file), one dict per epoch.

    A torn final line (no newline, not valid JSON), as a crash during a write leaves it, is
    skipped; a damaged line anywhere else raises :class:`RunFolderError` naming the file and
    line. A missing file gives ``[]``.
    """
    path = _metrics_path(run_dir_or_file)
    if not path.is_file():
        return []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise MetricsFileError(f"{path}: cannot read the metrics file ({exc})") from None
    lines = text.split("\n")
    torn_tail = not text.endswith("\n")  # the last piece was never finished with its newline
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if n == len(lines) and torn_tail:
                break  # a torn final line: the epoch it belonged to was not finished
            raise MetricsFileError(f"{path}:{n}: not a JSON record ({exc.msg}); the metrics file is damaged") from None
        if not isinstance(record, dict):
            raise MetricsFileError(f"{path}:{n}: a record must be a JSON object, got {type(record).__name__}")
        records.append(record)
    return records


def read_result(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``RUN/result.json`` (``None`` when the run has not finished); one-line error if it is damaged."""
    path = Path(run_dir) / RESULT
    if not path.is_file():
        return None
    try:
        out = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path}: damaged result file ({exc})") from None
    if not isinstance(out, dict):
        raise RunFolderError(f"{path}: damaged result file (not a JSON object)")
    return out


def holds_run(run_dir: str | os.PathLike[str]) -> bool:
    """Whether ``run_dir`` already holds (part of) a run: a config, metrics or a checkpoint."""
    p = Path(run_dir)
    return any((p / name).exists() for name in (CONFIG, METRICS, LAST, BEST, RESULT))


# ----------------------------------------------------------------------------- writing
def os_error_message(exc: OSError, path: str | os.PathLike[str] | None = None) -> str:
    """One line for an I/O failure: what could not be written and why (disk full, read-only, ...)."""
    where = path if path is not None else (exc.filename or "the run folder")
    hints = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EFBIG: "the file size limit was reached (ulimit -f)",
    }
    why = hints.get(exc.errno or -1, exc.strerror or type(exc).__name__)
    return f"cannot write {where}: {why}"


@contextlib.contextmanager
def _io(path: Path) -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` into a one-line :class:`RunFolderError`."""
    try:
        yield
    except OSError as exc:
        raise RunFolderError(os_error_message(exc, path)) from None


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers see the old or the new file."""
    path = Path(path)
    with _io(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def write_records(run_dir: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    """Replace ``RUN/metrics.jsonl`` with ``records`` (atomically; used when a resume truncates it)."""
    atomic_write_text(Path(run_dir) / METRICS, "".join(json.dumps(r) + "\n" for r in records))


def append_record(run_dir: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append one record to ``RUN/metrics.jsonl`` as a single write (one line, newline-terminated)."""
    path = Path(run_dir) / METRICS
    with _io(path), open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def write_metrics_csv(run_dir: str | os.PathLike[str], records: list[dict[str, Any]]) -> None:
    """``RUN/metrics.csv``: the scalar keys of every record (lists and mappings stay in the JSON lines)."""
    keys: list[str] = []
    for r in records:
        keys += [k for k, v in r.items() if k not in keys and not isinstance(v, list | dict)]
    path = Path(run_dir) / METRICS_CSV
    with _io(path), open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(records)


def write_result(run_dir: str | os.PathLike[str], summary: dict[str, Any]) -> None:
    atomic_write_text(Path(run_dir) / RESULT, json.dumps(summary, indent=2))


def record_overrides(run_dir: str | os.PathLike[str], epoch: int, applied: dict[str, tuple[Any, Any]]) -> None:
    """Append ``{"time", "after_epoch", "applied": {key: [old, new]}}`` to ``RUN/overrides.jsonl``."""
    line = {
        "time": datetime.datetime.now().isoformat(timespec="seconds"),
        "after_epoch": epoch,
        "applied": {k: [old, new] for k, (old, new) in applied.items()},
    }
    path = Path(run_dir) / OVERRIDES
    with _io(path), open(path, "a") as f:
        f.write(json.dumps(line) + "\n")


def remove_stale_temporaries(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files an interrupted atomic write leaves behind (call while holding the lock)."""
    removed = []
    for p in Path(run_dir).glob(".*.tmp"):
        if p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def clear_run(run_dir: str | os.PathLike[str]) -> None:
    """Remove the files of a previous run (``--overwrite``); other files in the folder are kept."""
    import shutil

    p = Path(run_dir)
    with _io(p):
        for name in RUN_FILES:
            (p / name).unlink(missing_ok=True)
        if (p / TENSORBOARD).is_dir():
            shutil.rmtree(p / TENSORBOARD)
        remove_stale_temporaries(p)


# ----------------------------------------------------------------------------- elastic jobs
def elastic_run_dir(out_dir: str | os.PathLike[str], run_id: str) -> Path | None:
    """The run folder an earlier attempt of the elastic job ``run_id`` wrote (``None`` if none)."""
    pointer = Path(out_dir) / ELASTIC_DIR / _safe_name(run_id)
    if not pointer.is_file():
        return None
    return Path(pointer.read_text().strip())


def remember_elastic_run_dir(out_dir: str | os.PathLike[str], run_id: str, run_dir: Path) -> None:
    folder = Path(out_dir) / ELASTIC_DIR
    with _io(folder):
        folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / _safe_name(run_id), str(Path(run_dir).resolve()) + "\n")


def forget_elastic_run_dir(out_dir: str | os.PathLike[str], run_id: str) -> None:
    """Drop the pointer of a finished elastic job (and the ``.elastic`` folder once it is empty)."""
    with contextlib.suppress(OSError):
        (Path(out_dir) / ELASTIC_DIR / _safe_name(run_id)).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (Path(out_dir) / ELASTIC_DIR).rmdir()  # only when empty: other jobs' pointers stay


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:200] or "run"


# ----------------------------------------------------------------------------- the owner lock
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


class RunLock:
    """The one writer of a run folder. Use as a context manager or call :meth:`acquire` / :meth:`release`.

    Raises :class:`RunFolderError` (one line naming the owner) when another live process holds it.
    ``tag`` is stored with the owner's PID and host (the elastic job id, so a restarted group
    recognises its own earlier lock on another host).
    """

    def __init__(self, run_dir: str | os.PathLike[str], tag: str | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK
        self.tag = tag
        self._fd: int | None = None

    def _owner_text(self) -> str:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        if self.tag:
            info["tag"] = self.tag
        return json.dumps(info) + "\n"

    def _read_owner(self) -> dict[str, Any]:
        try:
            info = json.loads(self.path.read_text() or "{}")
            return info if isinstance(info, dict) else {}
        except (OSError, ValueError):
            return {}

    def _busy(self, owner: dict[str, Any]) -> RunFolderError:
        who = f"PID {owner.get('pid', '?')} on {owner.get('host', '?')}, started {owner.get('started', '?')}"
        return RunFolderError(
            f"run folder {self.run_dir} is in use by another training ({who}); wait for it to finish, "
            f"or stop it first (its lock: {self.path})"
        )

    def acquire(self) -> RunLock:
        with _io(self.run_dir):
            self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # no flock on this platform: the lock file alone
            return self._acquire_pidfile()
        for _ in range(5):
            with _io(self.path):
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise self._busy(self._read_owner()) from None
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    return self._acquire_pidfile()
                raise RunFolderError(os_error_message(exc, self.path)) from None
            # The file may have been unlinked by its previous owner between our open and flock: retry on a new one.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            try:
                os.ftruncate(fd, 0)
                os.write(fd, self._owner_text().encode())
            except OSError as exc:
                os.close(fd)
                raise RunFolderError(os_error_message(exc, self.path)) from None
            self._fd = fd
            return self
        raise RunFolderError(f"run folder {self.run_dir}: cannot take its lock (it keeps changing owners)")

    def _acquire_pidfile(self) -> RunLock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = self._read_owner()
                stale = owner.get("host") == socket.gethostname() and not _pid_alive(int(owner.get("pid", -1)))
                if not stale and not (self.tag and owner.get("tag") == self.tag):
                    raise self._busy(owner) from None
                self.path.unlink(missing_ok=True)  # a crashed owner's lock
                continue
            except OSError as exc:
                raise RunFolderError(os_error_message(exc, self.path)) from None
            os.write(fd, self._owner_text().encode())
            self._fd = fd
            return self
        raise self._busy(self._read_owner())

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # unlink before unlocking: a waiter that opened this inode re-checks it
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
