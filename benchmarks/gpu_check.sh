#!/usr/bin/env bash
# One-command GPU check of SpikeForge's fused Triton path (about 3-5 minutes on one GPU):
#   1. the Triton kernel tests on real CUDA tensors (tests/test_kernels_triton.py, tests/test_ops_compile.py);
#   2. the LIF benchmark grid (T = 8, 16, 32; 2^16, 2^20, 2^24 neurons; forward and forward+backward)
#      against SpikingJelly's CUDA path, in float32 and bfloat16, with the HBM bandwidth bound;
#   3. one training step of SEW-ResNet-18 (CIFAR stem, T=4, batch 32), SpikeForge vs SpikingJelly neurons.
# Results go to benchmarks/results/gpu_*.{json,md}; paste them into docs/performance.md.
#
# Usage: benchmarks/gpu_check.sh            (on a machine with a CUDA GPU; uses ./run's virtual environment)
#        benchmarks/gpu_check.sh --dry-run  (anywhere: checks that every step's Python entry point loads
#                                            and parses its arguments, runs nothing on a GPU)
# Environment: PYTHON (default: .venv/bin/python via ./run), GPU_CHECK_OUT (default benchmarks/results).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${GPU_CHECK_OUT:-benchmarks/results}"
dry_run=0
case "${1:-}" in
  --dry-run) dry_run=1 ;;
  "") ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

if [ -n "${PYTHON:-}" ]; then
  py=("$PYTHON")
else
  py=(./run python)
fi

say() { printf '\n== %s\n' "$*"; }

# Each step as an array: the command that runs on the GPU; in a dry run, the same entry point with --help.
tests=("${py[@]}" -m pytest -q -o addopts= tests/test_kernels_triton.py tests/test_ops_compile.py)
grid_args=(--device cuda --steps 8 16 32 --log2-neurons 16 20 24 --min-repeats 5 --max-repeats 25 --budget 1
  --libraries spikeforge-triton spikeforge-triton+imp+th spikeforge-torch spikingjelly)
variants="spikingjelly,spikeforge,spikeforge+bf16,spikeforge+compile"
sew_args=(--device cuda --nets sew18 --variants "$variants" --budget 10 --out "$out/gpu_end_to_end")

if [ "$dry_run" -eq 1 ]; then
  say "dry run: entry points only"
  "${py[@]}" -c "import spikeforge.neuron.ops.triton.op as op; print('triton op module:', op.__name__)"
  "${py[@]}" -m pytest --collect-only -q -o addopts= tests/test_kernels_triton.py tests/test_ops_compile.py | tail -n 1
  "${py[@]}" benchmarks/bench_neuron.py --help >/dev/null && echo "bench_neuron.py --help: ok"
  "${py[@]}" benchmarks/bench_end_to_end.py --help >/dev/null && echo "bench_end_to_end.py --help: ok"
  echo "would run:"
  printf '  %s\n' "${tests[*]}" \
    "${py[*]} benchmarks/bench_neuron.py ${grid_args[*]} --dtype float32|bfloat16" \
    "${py[*]} benchmarks/bench_end_to_end.py ${sew_args[*]}"
  exit 0
fi

"${py[@]}" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible')"
"${py[@]}" -c "import triton" 2>/dev/null || { echo "triton is not installed: pip install triton" >&2; exit 1; }
"${py[@]}" -c "import torch; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"
start=$SECONDS

say "1/3 Triton kernel tests on CUDA"
"${tests[@]}"

for dtype in float32 bfloat16; do
  say "2/3 LIF grid, $dtype (vs SpikingJelly's CUDA path, HBM bound)"
  "${py[@]}" benchmarks/bench_neuron.py "${grid_args[@]}" --dtype "$dtype" \
    --json "$out/gpu_bench_neuron_$dtype.json" --markdown "$out/gpu_bench_neuron_$dtype.md"
done

say "3/3 one SEW-ResNet-18 training step (T=4, batch 32)"
"${py[@]}" benchmarks/bench_end_to_end.py "${sew_args[@]}"

say "done in $((SECONDS - start)) s; results in $out/gpu_*"
