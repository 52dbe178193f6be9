"""On-disk cache of integrated frames, keyed by everything that determines them.

Layout::

    CACHE_ROOT/<dataset>/<split>-T<T>-<split_by>-<size>-<key>/000000.npz ... manifest.json

``CACHE_ROOT`` defaults to ``ROOT/.spikeforge_cache`` (option ``cache_dir`` overrides it).
``key`` hashes the frame parameters (T, split_by, size, resize mode, sensor size, cache
format version) and the sample list (relative path, byte size, mtime and label of every source
file, plus the time window of a sample cut from a longer recording): change any of them and
a new cache is built beside the old one; delete old folders freely.

Each sample is written to a temporary file and renamed, and the manifest is written last, so
an interrupted build resumes where it stopped and concurrent builders (e.g. several DDP ranks)
never see half-written files. Integer counts are stored in the smallest unsigned type that
holds them, resized (fractional) frames as float32; all compressed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import DataFormatError

__all__ = ["CACHE_DIRNAME", "CACHE_VERSION", "FrameCache", "default_cache_root", "publish"]

CACHE_DIRNAME = ".spikeforge_cache"
# Bump when the frame semantics or the file format change, so old caches are not reused.
CACHE_VERSION = 1


def default_cache_root(root: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None) -> Path:
    """``cache_dir`` if given, else ``root/.spikeforge_cache``."""
    return Path(cache_dir) if cache_dir is not None else Path(root) / CACHE_DIRNAME


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
        h = hashlib.sha256(json.dumps({"version": CACHE_VERSION, **params}, sort_keys=True).encode())
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
