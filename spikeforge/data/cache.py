"""The on-disk caches (integrated frames, decompressed SHD files), keyed on content.

A source file is identified by :func:`content_key`: its size and a BLAKE2 hash of every byte, whatever
its size (a key on a sample of a large file's bytes served old frames after an edit between the samples).
Each file is read once: :class:`ContentKeys` remembers the keys by stat, so the cost is paid when a
dataset is first cached or a file changes (``benchmarks/bench_content_key.py``; figures in
docs/reliability.md). Modification times are never used: ``cp -p``, ``rsync -a``, ``tar`` and
``curl -R`` carry old ones onto new files.

Frame cache layout::

    CACHE_ROOT/<dataset>/<split>-T<T>-<split_by>-<size>-<key>/000000.npz ... manifest.json
    CACHE_ROOT/content-keys/<dataset>.json     the source files' content keys, by stat (:class:`ContentKeys`)

``CACHE_ROOT`` defaults to ``ROOT/.spikeforge_cache`` (option ``cache_dir`` overrides it).
``key`` hashes the frame parameters (T, split_by, size, resize mode, sensor size, cache
format version) and the sample list (relative path, :func:`content_key` and label of every
source file, plus the time window of a sample cut from a longer recording): change any of them
and a new cache is built beside the old one; delete old folders freely.

Each sample is written to a temporary file and renamed, and the manifest is written last, so
an interrupted build resumes where it stopped and concurrent builders (e.g. several DDP ranks)
never see half-written files. Integer counts are stored in the smallest unsigned type that
holds them, resized (fractional) frames as float32; all compressed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import DataFormatError

__all__ = [
    "CACHE_DIRNAME",
    "CACHE_VERSION",
    "ContentKeys",
    "FrameCache",
    "content_key",
    "default_cache_root",
    "gunzip_once",
    "publish",
]

CACHE_DIRNAME = ".spikeforge_cache"
# Bump when the frame semantics, the key or the file format change, so old caches are not reused.
CACHE_VERSION = 2

_SETTLED_NS = 2_000_000_000
# What ContentKeys entries were computed with: entries of another scheme (the sampled keys of large
# files before it) are computed again.
_KEY_SCHEME = "blake2b-all"


def content_key(path: str | os.PathLike[str]) -> str:
    """``"<size>:<hash>"`` of a file's contents: a 128-bit BLAKE2b hash of every byte (see the module docstring)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return f"{size}:{h.hexdigest()}"


def default_cache_root(root: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None) -> Path:
    """``cache_dir`` if given, else ``root/.spikeforge_cache``."""
    return Path(cache_dir) if cache_dir is not None else Path(root) / CACHE_DIRNAME


class ContentKeys:
    """:func:`content_key` of many files, remembered in ``path`` (JSON) by each file's stat.

    A file whose inode, size, mtime and ctime are all unchanged is not read again. Tools can set
    a file's mtime to an old value (``cp -p``, ``rsync -a``, ``tar``), but not its ctime, which
    the kernel sets on every write or replacement: a changed file is always hashed again (files
    changed in the last 2 s are not remembered, as file times tick coarsely). This
    keeps a rebuilt dataset's cache lookup at the cost of a ``stat`` per file instead of reading
    every file (N-MNIST: 70000 files) each time a run starts.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._entries: dict[str, list] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._entries = {}
        if not isinstance(self._entries, dict):
            self._entries = {}
        self._dirty = False

    def key(self, file: str | os.PathLike[str]) -> str:
        name = os.path.abspath(file)
        st = os.stat(name)
        stat = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        known = self._entries.get(name)
        if isinstance(known, list) and len(known) == 6 and known[:4] == stat and known[4] == _KEY_SCHEME:
            return known[5]
        key = content_key(name)
        # File times tick coarsely (a few ms): a file changed within the tick of its last change
        # would keep its ctime. Remember only files whose last change is safely in the past.
        if time.time_ns() - st.st_ctime_ns > _SETTLED_NS:
            self._entries[name] = [*stat, _KEY_SCHEME, key]
            self._dirty = True
        return key

    def save(self) -> None:
        """Write the memo (atomically; a memo that cannot be written only costs time later)."""
        if not self._dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".part")
            with os.fdopen(fd, "w") as fh:
                json.dump(self._entries, fh)
            publish(tmp, self.path)
            self._dirty = False
        except OSError:
            pass


def publish(tmp: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move a finished temporary file into place atomically, readable by all like an ordinary file
    (``mkstemp`` creates it owner-only, which would hide a shared cache from other users)."""
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def _compact(frames: np.ndarray) -> np.ndarray:
    """The smallest exact storage type for ``frames``."""
    if frames.size and np.array_equal(frames, np.rint(frames)) and frames.min() >= 0:
        top = frames.max()
        for dtype in (np.uint8, np.uint16, np.uint32):
            if top <= np.iinfo(dtype).max:
                return frames.astype(dtype)
    return frames.astype(np.float32)


class FrameCache:
    """Frames of one dataset split with one set of frame parameters.

    Args:
        directory: the folder of this cache (see :meth:`for_samples`).
        n: number of samples.
    """

    def __init__(self, directory: str | os.PathLike[str], n: int) -> None:
        self.directory = Path(directory)
        self.n = n

    @classmethod
    def for_samples(
        cls,
        cache_root: str | os.PathLike[str],
        dataset: str,
        split: str,
        params: dict,
        signature: Iterable[str],
        n: int,
    ) -> FrameCache:
        """The cache for ``params`` (JSON-able, must include ``T``, ``split_by``, ``size``) and samples.

        ``signature`` yields one line per sample that changes whenever that sample's source does.
        """
        h = hashlib.sha256(json.dumps({"version": CACHE_VERSION, **params}, sort_keys=True, default=repr).encode())
        for line in signature:
            h.update(line.encode())
            h.update(b"\n")
        size = params.get("size")
        size_tag = "native" if size is None else (f"{size}" if isinstance(size, int) else "x".join(map(str, size)))
        name = f"{split}-T{params['T']}-{params['split_by']}-{size_tag}-{h.hexdigest()[:16]}"
        return cls(Path(cache_root) / dataset / name, n)

    def path(self, i: int) -> Path:
        return self.directory / f"{i:06d}.npz"

    @property
    def manifest(self) -> Path:
        return self.directory / "manifest.json"

    def is_complete(self) -> bool:
        try:
            return json.loads(self.manifest.read_text()).get("n") == self.n
        except (OSError, ValueError):
            return False

    def missing(self) -> list[int]:
        """Indices without a frame file (empty when the manifest says the cache is complete)."""
        if self.is_complete():
            return []
        return [i for i in range(self.n) if not self.path(i).exists()]

    def save(self, i: int, frames: np.ndarray) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez_compressed(fh, frames=_compact(frames))
            publish(tmp, self.path(i))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def load(self, i: int) -> np.ndarray:
        """``float32`` frames of sample ``i``."""
        path = self.path(i)
        try:
            with np.load(path) as archive:
                return archive["frames"].astype(np.float32)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise DataFormatError(
                path, f"unreadable cache file ({exc}); delete {self.directory} and run `spikeforge data prepare` again"
            ) from None

    def mark_complete(self, info: dict | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".part")
        with os.fdopen(fd, "w") as fh:
            json.dump({"n": self.n, "version": CACHE_VERSION, **(info or {})}, fh, indent=1, sort_keys=True)
        publish(tmp, self.manifest)


def gunzip_once(path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> str:
    """Decompress ``path`` (``X.gz``) to ``out_dir/X`` unless done before from the same bytes; return the new path.

    ``out_dir/X.source`` records the :func:`content_key` of the ``.gz`` it
    came from: a different ``.gz`` (whatever its modification time) is decompressed again. Writes
    go to temporary files renamed into place, the key last, so an interrupted run never leaves a
    half file that looks finished.

    Raises:
        DataFormatError: naming ``path`` (the user's file) when it is not a valid gzip stream.
    """
    path = os.fspath(path)
    target = os.path.join(out_dir, os.path.basename(path)[: -len(".gz")])
    stamp = target + ".source"
    key = content_key(path)
    try:
        if os.path.exists(target) and json.loads(Path(stamp).read_text()).get("source") == key:
            return target
    except (OSError, ValueError, AttributeError):
        pass  # no or unreadable stamp: decompress again
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(path, "rb") as src:
            shutil.copyfileobj(src, out, length=1 << 20)
        publish(tmp, target)
    except (OSError, EOFError, zlib.error) as exc:
        os.unlink(tmp)
        if isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error)):
            raise DataFormatError(path, f"corrupt or truncated gzip file ({exc})") from None
        raise
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".part")
    with os.fdopen(fd, "w") as fh:
        json.dump({"source": key, "file": os.path.abspath(path)}, fh)
    publish(tmp, stamp)
    return target
