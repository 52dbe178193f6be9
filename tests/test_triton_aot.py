"""Every Triton kernel variant compiled ahead of time for sm_80 (A100) and sm_90 (H100), without a GPU.

Triton's compiler lowers a kernel to TTIR, TTGIR, LLVM IR, PTX and (with its bundled
``ptxas``) a cubin for a :class:`GPUTarget` named here; no device is needed. For each variant
this checks that it compiles to a cubin and, in the IR, what the interpreter cannot see:

* 64-bit offsets: every tensor of pointers is offset by int64 values, and no int32 product
  is formed (``t * M`` in int32 wrapped at ``T * M >= 2**31``, a layer of 8M neurons at T=300);
* the float32 forward rounds as the reference does: no division, and every float32 add, sub
  and mul carries an explicit ``.rn`` rounding in PTX, which ``ptxas`` never contracts into an
  FMA (``enable_fp_fusion=False``; an FMA rounds once where the reference rounds twice).

A variant: a kernel with one choice of its constexpr flags and dtypes. The forward's code
paths are kind x reset x (saved ``H`` / trace / initial current on or off); the backward's
kind x reset x detach, each surrogate at least once, and the optional gradients on or off; each
in float32 and, for LIF, in bfloat16, float16 and float64.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from types import ModuleType

import pytest

if not os.environ.get("SPIKEFORGE_REQUIRE_TRITON"):
    pytest.importorskip("triton")

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from spikeforge.neuron.ops.triton import op


def _compiled_kernels() -> ModuleType:
    """A private copy of ``kernels.py`` defined for Triton's compiler.

    ``triton.jit`` picks interpreter or compiler when a kernel is defined, and the package's own
    module may have been defined under ``TRITON_INTERPRET=1`` (``test_kernels_triton.py``).
    """
    old = os.environ.pop("TRITON_INTERPRET", None)
    try:
        spec = importlib.util.spec_from_file_location(
            "_spikeforge_triton_kernels_aot", Path(op.__file__).parent / "kernels.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if old is not None:
            os.environ["TRITON_INTERPRET"] = old
    return module


kernels = _compiled_kernels()
TARGETS = (80, 90)
TRITON_DTYPES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "float64": "fp64"}
# pointers in the input dtype; the others hold the state dtype (float32, or float64 for float64 inputs)
INPUT_DTYPE_POINTERS = {"x_ptr", "spikes_ptr", "gs_ptr", "gx_ptr"}


def _forward_variants() -> list[dict]:
    out = []
    for kind in range(4):
        for soft in (False, True):
            for on in (True, False):
                out.append(dict(KIND=kind, SOFT=soft, SAVE_H=on, RECORD_V=on, HAS_I0=on and kind == 3, dtype="float32"))
    for dtype in ("bfloat16", "float16", "float64"):
        out.append(dict(KIND=1, SOFT=False, SAVE_H=True, RECORD_V=True, HAS_I0=False, dtype=dtype))
    return out


def _backward_variants() -> list[dict]:
    out = []
    i = 0
    for kind in range(4):
        for soft in (False, True):
            for detach in (False, True):
                on = i % 4 != 3  # every fourth with the optional gradients off
                out.append(
                    dict(
                        KIND=kind,
                        SOFT=soft,
                        DETACH=detach,
                        SUR=i % 5,
                        HAS_GS=True,
                        HAS_GVSEQ=on,
                        HAS_GV=on,
                        HAS_GI=on and kind == 3,
                        NEED_GX=True,
                        NEED_GTH=on,
                        NEED_GV0=on,
                        NEED_GI0=on and kind == 3,
                        dtype="float32",
                    )
                )
                i += 1
    for dtype in ("bfloat16", "float16", "float64"):
        flags = dict(out[4])  # LIF, hard reset
        flags["dtype"] = dtype
        out.append(flags)
    return out


VARIANTS = [("forward", v) for v in _forward_variants()] + [("backward", v) for v in _backward_variants()]


def _name(kernel: str, flags: dict) -> str:
    return kernel + "-" + "-".join(f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in flags.items())


@pytest.fixture(scope="module", autouse=True)
def fresh_cache(tmp_path_factory):
    """Compile for real: a cache of earlier builds would hand back their IR."""
    old = os.environ.get("TRITON_CACHE_DIR")
    os.environ["TRITON_CACHE_DIR"] = str(tmp_path_factory.mktemp("triton-cache"))
    yield
    if old is None:
        del os.environ["TRITON_CACHE_DIR"]
    else:
        os.environ["TRITON_CACHE_DIR"] = old


def compile_variant(kernel: str, flags: dict, capability: int):
    """The compiled kernel (``.asm``: ttir, ttgir, llir, ptx, cubin) of one variant for ``sm_<capability>``."""
    fn = kernels.forward_kernel if kernel == "forward" else kernels.backward_kernel
    flags = dict(flags)
    dtype = flags.pop("dtype")
    state = "fp64" if dtype == "float64" else "fp32"
    # as the launcher runs it: the block size it picks for a large layer on this GPU, no fp fusion
    block, num_warps = op.launch_config(2**20, 132 if capability == 90 else 108)
    constexprs = {**flags, "BLOCK": block}
    signature = {
        name: "constexpr"
        if name in constexprs
        else f"*{TRITON_DTYPES[dtype] if name in INPUT_DTYPE_POINTERS else state}"
        if name.endswith("_ptr")
        else "i32"
        for name in fn.arg_names
    }
    source = ASTSource(fn=fn, signature=signature, constexprs=constexprs)
    options = {"num_warps": num_warps, "enable_fp_fusion": False}
    return triton.compile(source, target=GPUTarget("cuda", capability, 32), options=options)


def check_offsets_are_64_bit(ttgir: str) -> None:
    """Every tensor of pointers is offset by int64 values; no int32 multiply feeds an address."""
    tensor_addptr = [line for line in ttgir.splitlines() if "tt.addptr" in line and "tensor<" in line]
    assert tensor_addptr, "no tensor pointer arithmetic found: the IR format changed?"
    narrow = [line.strip() for line in tensor_addptr if not re.search(r"tensor<\d+xi64", line)]
    assert not narrow, f"pointer offsets narrower than 64 bits: {narrow[:3]}"
    products = re.findall(r"arith\.muli .*: (i32|tensor<\d+xi32)", ttgir)
    assert not products, f"int32 products in the kernel (wrap at 2**31): {products[:3]}"


def check_reference_rounding(ttgir: str, ptx: str) -> None:
    """No division, and every float32 add / sub / mul rounds on its own (``.rn``: never fused into an FMA)."""
    assert "arith.divf" not in ttgir, "the forward divides where the reference multiplies by 1/tau"
    ops = re.findall(r"^\s*((?:add|sub|mul|fma|div|mad)(?:\.\w+)*\.f32)\b", ptx, re.M)
    assert ops, "no float32 arithmetic found in the PTX: the format changed?"
    loose = sorted({o for o in ops if o.split(".")[0] in ("fma", "div", "mad") or ".rn" not in o})
    assert not loose, f"float32 operations that do not round as the reference: {loose}"


@pytest.mark.parametrize("capability", TARGETS, ids=[f"sm_{c}" for c in TARGETS])
def test_every_kernel_variant_compiles_with_64_bit_offsets(capability):
    failures = []
    for kernel, flags in VARIANTS:
        try:
            compiled = compile_variant(kernel, flags, capability)
            assert compiled.asm["cubin"], "no cubin"
            check_offsets_are_64_bit(compiled.asm["ttgir"])
            if kernel == "forward" and flags["dtype"] in ("float32", "bfloat16", "float16"):
                check_reference_rounding(compiled.asm["ttgir"], compiled.asm["ptx"])
        except Exception as exc:  # collect every failing variant, not only the first
            failures.append(f"{_name(kernel, flags)}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    assert not failures, f"{len(failures)} of {len(VARIANTS)} variants fail for sm_{capability}:\n" + "\n".join(
        failures
    )


def test_the_checks_catch_32_bit_offsets_and_a_division():
    """The IR checks above fail on the IR of the faults they look for (from a kernel written with them)."""
    import triton.language as tl

    @triton.jit
    def faulty(x_ptr, y_ptr, T, M, tau, BLOCK: tl.constexpr):
        m = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        for t in range(T):
            off = t * M + m  # int32
            v = tl.load(x_ptr + off) / tau
            tl.store(y_ptr + off, v * 0.5 + 1.0)

    signature = {"x_ptr": "*fp32", "y_ptr": "*fp32", "T": "i32", "M": "i32", "tau": "fp32", "BLOCK": "constexpr"}
    compiled = triton.compile(
        ASTSource(fn=faulty, signature=signature, constexprs={"BLOCK": 128}),
        target=GPUTarget("cuda", 90, 32),
        options={"num_warps": 1, "enable_fp_fusion": True},  # as Triton 3.9 does by default
    )
    with pytest.raises(AssertionError, match=r"narrower than 64 bits|int32 products"):
        check_offsets_are_64_bit(compiled.asm["ttgir"])
    with pytest.raises(AssertionError, match="divides"):
        check_reference_rounding(compiled.asm["ttgir"], compiled.asm["ptx"])
    with pytest.raises(AssertionError, match="do not round as the reference"):
        check_reference_rounding("", compiled.asm["ptx"])
