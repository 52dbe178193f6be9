"""Build, cache and load the fused CPU kernel library.

The C++ sources (``csrc/``, shipped as package data) include no PyTorch or Python
headers, so the library builds with the system C++ compiler alone and needs no pip
package (no ninja, no ``torch.utils.cpp_extension``). ``csrc/kernels.cpp`` is compiled six
times (3 dtypes x 2 groups of neuron kinds, see :data:`UNITS`) and ``csrc/api.cpp`` once,
in parallel, with ``-O3 -march=native``; the library is cached under
``$SPIKEFORGE_KERNEL_CACHE`` (default ``~/.cache/spikeforge/kernels``), keyed by the
sources, the flags, the compiler and the CPU's instruction-set flags, so a cache shared
between different machines stays valid. So it is built once per machine: by ``./run``
at set-up (``python -m spikeforge.neuron.ops.cpu``), else at the first fused call,
which says so in one log line first (a cold build takes 10-30 s).

OpenMP: the library links ``libgomp.so.1``; PyTorch's wheel ships a ``libgomp.so.1``
which the dynamic loader has already mapped when ``torch`` was imported, so the kernels
run on PyTorch's own OpenMP thread pool instead of starting a second one.

Environment: ``CXX`` picks the compiler; ``SPIKEFORGE_KERNEL_CACHE`` the cache folder.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import torch  # noqa: F401  (loads PyTorch's libgomp before the kernel library is loaded)

__all__ = ["ABI_VERSION", "Args", "BuildStatus", "compiler", "is_cached", "library", "status"]

CSRC = Path(__file__).with_name("csrc")
# unit name -> preprocessor definitions for csrc/kernels.cpp (input dtype x group of neuron kinds); "api" is api.cpp
_DTYPES = {"f32": ("float", "float"), "f64": ("double", "double"), "bf16": ("bf16", "float")}
_GROUPS = {"if_lif": "IF,LIF_DECAY", "lif_cuba": "LIF_NODECAY,CUBA"}
UNITS: dict[str, tuple[str, tuple[str, ...]]] = {
    f"{name}_{group}": (
        "kernels.cpp",
        (f"-DSF_NAME={name}", f"-DSF_GROUP={group}", f"-DSF_IT={it}", f"-DSF_ST={st}", f"-DSF_KINDS={kinds}"),
    )
    for name, (it, st) in _DTYPES.items()
    for group, kinds in _GROUPS.items()
}
UNITS["api"] = ("api.cpp", ())

ABI_VERSION = 9
FLAGS = (
    "-O3",
    "-march=native",
    "-std=c++17",
    "-fopenmp",
    "-fPIC",
    "-shared",
    # Exactness: never fuse a*b+c into one rounding (the reference rounds both);
    # the other two flags only let the compiler vectorise branches and skip errno.
    "-ffp-contract=off",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-DNDEBUG",
)
# GCC only: no separately vectorised loop epilogues (a third less code to compile, same speed).
GCC_FLAGS = ("--param", "vect-epilogues-nomask=0")

_ptr = ctypes.c_void_p
_i64 = ctypes.c_int64
_i32 = ctypes.c_int32
_f64 = ctypes.c_double


class Args(ctypes.Structure):
    """Mirror of ``struct Args`` in the C++ source (same field order and types)."""

    _fields_ = [
        ("T", _i64),
        ("M", _i64),
        ("dtype", _i32),
        ("kind", _i32),
        ("soft", _i32),
        ("detach", _i32),
        ("surrogate", _i32),
        ("nthreads", _i32),
        ("stream", _i32),
        ("block", _i32),
        ("tau", _f64),
        ("alpha_i", _f64),
        ("alpha_v", _f64),
        ("v_rest", _f64),
        ("v_reset", _f64),
        ("sur_c0", _f64),
        ("sur_c1", _f64),
        ("x", _ptr),
        ("spikes", _ptr),
        ("v_seq", _ptr),
        ("v_out", _ptr),
        ("i_out", _ptr),
        ("v0", _ptr),
        ("v0_mid", _i64),
        ("v0_inner", _i64),
        ("theta", _ptr),
        ("th_mid", _i64),
        ("th_inner", _i64),
        ("i0", _ptr),
        ("g_spikes", _ptr),
        ("g_vseq", _ptr),
        ("g_v", _ptr),
        ("g_i", _ptr),
        ("g_x", _ptr),
        ("g_i0", _ptr),
        ("g_v0", _ptr),
        ("g_theta", _ptr),
        ("g_acc", _ptr),
        ("own_period", _i64),
    ]


@dataclasses.dataclass
class BuildStatus:
    """Outcome of the (lazy, once per process) build.

    Attributes:
        ok: the library is loaded.
        message: why it is not (empty when ok).
        path: the cached shared library.
        log: the compiler's output of the last build attempt.
        seconds: compile time of this process's build (0 when loaded from the cache).
    """

    ok: bool
    message: str = ""
    path: Path | None = None
    log: Path | None = None
    seconds: float = 0.0


_lock = threading.Lock()
_status: BuildStatus | None = None
_lib: ctypes.CDLL | None = None


def compiler() -> str | None:
    """The C++ compiler to use: ``$CXX``, else ``g++``, else ``c++`` (``None`` when none is found)."""
    for name in (os.environ.get("CXX"), "g++", "c++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def cache_dir() -> Path:
    env = os.environ.get("SPIKEFORGE_KERNEL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "spikeforge" / "kernels"


def _cpu_signature() -> str:
    # -march=native code is only valid on CPUs with the same instruction sets.
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def _compiler_version(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _flags(cxx: str) -> tuple[str, ...]:
    return FLAGS + (GCC_FLAGS if "Free Software Foundation" in _compiler_version(cxx) else ())


def _compile(cxx: str, folder: Path) -> tuple[Path | None, str]:
    """Compile every unit of :data:`UNITS` in parallel, then link; returns the library and the compiler output."""
    objects = {name: folder / f"{name}.o" for name in UNITS}
    compile_flags = [f for f in _flags(cxx) if f != "-shared"]
    jobs = max(1, min(len(UNITS), os.cpu_count() or 1))
    queue = list(UNITS)
    running: dict[str, subprocess.Popen] = {}
    output, failed = [], False
    # A small job queue: at most `jobs` compilers at once; stop starting new ones after a failure.
    while queue or running:
        while queue and len(running) < jobs and not failed:
            name = queue.pop(0)
            source, defines = UNITS[name]
            cmd = [cxx, *compile_flags, f"-I{CSRC}", *defines, "-c", str(CSRC / source), "-o", str(objects[name])]
            running[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if not running:
            break
        name = next(iter(running))
        proc = running.pop(name)
        out, _ = proc.communicate(timeout=900)
        output.append(f"$ {name}\n{out}")
        if proc.returncode != 0:
            failed = True
            queue.clear()
    if failed:
        return None, "\n".join(output)
    so = folder / "sf_cpu.so"
    link = subprocess.run(
        [cxx, *_flags(cxx), *(str(o) for o in objects.values()), "-o", str(so)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    output.append(f"$ link\n{link.stdout}")
    return (so if link.returncode == 0 else None), "\n".join(output)


def _library_path(cxx: str) -> Path:
    """The cache file of the library these sources, flags, compiler and CPU build."""
    sources = "\n".join(f"{p.name}\n{p.read_text()}" for p in sorted(CSRC.iterdir()) if p.suffix in (".cpp", ".h"))
    units = repr(sorted(UNITS.items()))
    toolchain = (" ".join(_flags(cxx)), _compiler_version(cxx), _cpu_signature(), platform.machine())
    key = "\n".join((sources, units, *toolchain))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / f"sf_cpu_{digest}.so"


def is_cached() -> bool:
    """Whether the library is loaded or in the cache (so the next :func:`status` will not compile)."""
    if _status is not None:
        return True
    cxx = compiler()
    try:
        return cxx is not None and _library_path(cxx).exists()
    except OSError:
        return False


def _build(cxx: str) -> BuildStatus:
    try:
        so = _library_path(cxx)
    except OSError as e:
        return BuildStatus(False, f"cannot read the CPU kernel sources in {CSRC}: {e}")
    folder = so.parent
    log = so.with_suffix(".log")
    seconds = 0.0
    if not so.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            return BuildStatus(False, f"cannot create the kernel cache folder {folder}: {e}")
        # Build in a private folder and rename: concurrent processes (pytest workers, DDP
        # ranks) may build at the same time without ever loading a half-written library.
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            start = time.perf_counter()
            try:
                built, output = _compile(cxx, Path(tmp))
            except (OSError, subprocess.SubprocessError) as e:
                return BuildStatus(False, f"running the C++ compiler {cxx} failed: {e}")
            seconds = time.perf_counter() - start
            log.write_text(output)
            if built is None:
                first = next((ln for ln in output.splitlines() if "error" in ln), output.strip()[-300:])
                first = " ".join(first.split()) or "no compiler output"  # one line
                return BuildStatus(False, f"compiling the CPU kernels with {cxx} failed: {first} (log: {log})", log=log)
            os.replace(built, so)
    return _load(so, log, seconds)


def _load(so: Path, log: Path, seconds: float) -> BuildStatus:
    global _lib
    try:
        lib = ctypes.CDLL(str(so))
    except OSError as e:
        return BuildStatus(False, f"loading the CPU kernel library {so} failed: {e}", so, log)
    lib.sf_abi_version.restype = ctypes.c_int
    lib.sf_args_size.restype = ctypes.c_int64
    if lib.sf_abi_version() != ABI_VERSION or lib.sf_args_size() != ctypes.sizeof(Args):
        return BuildStatus(False, f"stale CPU kernel library {so} (ABI mismatch); delete it to rebuild", so, log)
    for fn in (lib.sf_forward, lib.sf_backward):
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.POINTER(Args)]
    lib.sf_pool_tensor.restype = ctypes.c_void_p
    lib.sf_pool_tensor.argtypes = [_i64, _i32, ctypes.POINTER(_i64), _i32, _i32]
    lib.sf_pool_set_limit.argtypes = [_i64]
    lib.sf_pool_stats.argtypes = [ctypes.POINTER(_i64)]
    _lib = lib
    return BuildStatus(True, "", so, log, seconds)


def status() -> BuildStatus:
    """Build (once per process, from the cache when possible) and report the outcome."""
    global _status
    if _status is not None:  # the fast path takes no lock (and is traceable by torch.compile)
        return _status
    with _lock:
        if _status is None:
            cxx = compiler()
            if cxx is None:
                _status = BuildStatus(False, "no C++ compiler found (install g++ or set CXX)")
            else:
                _status = _build(cxx)
        return _status


def library() -> ctypes.CDLL:
    """The loaded kernel library; raises ``RuntimeError`` with the build's message if it is unavailable."""
    st = status()
    if not st.ok or _lib is None:
        raise RuntimeError(f"SpikeForge CPU kernels unavailable: {st.message}")
    return _lib


def main() -> int:
    """``python -m spikeforge.neuron.ops.cpu``: build (or find) the library and say what happened."""
    st = status()
    if st.ok:
        how = f"built in {st.seconds:.1f}s" if st.seconds else "found in the cache"
        print(f"[spikeforge] fused CPU neuron kernels {how}: {st.path}")
        return 0
    print(f"[spikeforge] fused CPU neuron kernels unavailable (neurons use the reference backend): {st.message}")
    return 1
