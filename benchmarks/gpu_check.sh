#!/usr/bin/env bash
# One-command GPU check of SpikeForge's fused Triton path, from a fresh clone on a machine with a CUDA GPU and
# the package registries (under 5 minutes of device time; each step has a budget, below):
#   0. setup: ./run's environment (a fresh machine gets torch 2.13.0, the CUDA build on Linux, with its triton)
#      and the tests' peers, installed as `./run test` does (`./run deps`: SpikingJelly, Tonic --no-deps);
#   1. the Triton kernel tests on real CUDA tensors (the grid, edge cases, opcheck, device handling);
#   2. the LIF grid (T = 8, 32; 2^16, 2^20, 2^24 neurons; forward and forward+backward) against SpikingJelly's
#      fused LIF (its Triton kernels), in float32 and bfloat16, with the HBM bandwidth bound;
#   3. one SEW-ResNet-18 training step (CIFAR stem, T=4, batch 32) with its peak memory, vs SpikingJelly neurons;
#   4. with 2 or more GPUs: two ranks through SpikeForge's device and NCCL setup (benchmarks/gpu_nccl_check.py).
# Results: $GPU_CHECK_OUT/gpu_check.{json,md} (every step's status, seconds and budget) beside each step's own
# JSON / markdown (default benchmarks/results). Paste the figures into docs/performance.md.
#
# Usage: benchmarks/gpu_check.sh            (on the GPU machine)
#        benchmarks/gpu_check.sh --dry-run  (anywhere, no GPU: runs step 0, then checks every step's inputs
#                                            (libraries import, scripts compile and parse their arguments,
#                                            tests collect) and prints each step with its time budget)
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
mkdir -p "$out"
py=(./run python)

# name | budget (s) | what it runs
budget_setup=80 budget_tests=75 budget_grid=35 budget_sew=40 budget_nccl=25
total_budget=$((budget_setup + budget_tests + 2 * budget_grid + budget_sew + budget_nccl))
tests=("${py[@]}" -m pytest -q -o addopts= -p no:cacheprovider tests/test_kernels_triton.py tests/test_gpu_path.py
  -k "grid or edge or contiguous or strided or empty or opcheck or host or half or launch or resolves")
grid_args=(--device cuda --steps 8 32 --log2-neurons 16 20 24 --min-repeats 5 --max-repeats 20 --budget 0.3
  --libraries spikeforge-triton spikingjelly)  # SpikingJelly 2.0 picks its fused CUDA kernels by device
sew_args=(--device cuda --nets sew18 --variants spikingjelly,spikeforge --budget 8 --out "$out/gpu_end_to_end")
nccl=("${py[@]}" -m torch.distributed.run --standalone --nproc_per_node 2 benchmarks/gpu_nccl_check.py
  --out "$out/gpu_nccl.json")

say() { printf '\n== %s\n' "$*"; }
steps_tsv="$(mktemp)"  # one line per step: name, status, seconds, budget (summarised at the end)
trap 'rm -f "$steps_tsv"' EXIT
# run_step NAME BUDGET CMD...: runs CMD (stopped at twice its budget), records status, seconds and budget
run_step() {
  local name="$1" budget="$2" t0=$SECONDS rc=0
  shift 2
  say "$name (budget ${budget} s)"
  timeout "$((2 * budget))" "$@" || rc=$?
  local took=$((SECONDS - t0)) status=ok
  [ "$rc" -ne 0 ] && status="failed (exit $rc)"
  [ "$rc" -eq 124 ] && status="stopped at $((2 * budget)) s"
  [ "$rc" -eq 0 ] && [ "$took" -gt "$budget" ] && status="ok, over budget"
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$took" "$budget" >>"$steps_tsv"
  echo "-- $name: $status in ${took} s (budget ${budget} s)"
}

say "0 setup (budget ${budget_setup} s): ./run's environment and the tests' peers"
t0=$SECONDS
./run deps
printf '%s\t%s\t%s\t%s\n' "setup" "ok" "$((SECONDS - t0))" "$budget_setup" >>"$steps_tsv"

if [ "$dry_run" -eq 1 ]; then
  say "dry run: every step's inputs"
  "${py[@]}" - <<'EOF'
import importlib, py_compile
for module in ("torch", "triton", "pytest", "hypothesis", "spikingjelly.activation_based.neuron",
               "spikeforge.neuron.ops.triton.kernels", "spikeforge.device", "spikeforge.distributed"):
    importlib.import_module(module)
    print(f"  import {module}: ok")
for script in ("benchmarks/bench_neuron.py", "benchmarks/bench_end_to_end.py", "benchmarks/gpu_nccl_check.py"):
    py_compile.compile(script, doraise=True)
    print(f"  compile {script}: ok")
from spikeforge.models import build_model
build_model("sew_resnet18_cifar", num_classes=10)  # step 3 network builds
print("  build sew_resnet18_cifar: ok")
EOF
  collected=$("${tests[@]}" --collect-only | grep -E "[0-9]+ tests? collected" || true)
  [ -n "$collected" ] || { echo "step 1 collects no test" >&2; exit 1; }
  echo "  step 1 tests: $collected"
  "${py[@]}" benchmarks/bench_neuron.py --help >/dev/null && echo "  bench_neuron.py --help: ok"
  "${py[@]}" benchmarks/bench_end_to_end.py --help >/dev/null && echo "  bench_end_to_end.py --help: ok"
  "${py[@]}" benchmarks/gpu_nccl_check.py --help >/dev/null && echo "  gpu_nccl_check.py --help: ok"
  say "the device run: steps and time budgets (total ${total_budget} s)"
  printf '  %-28s %4s s  %s\n' \
    "0 setup" "$budget_setup" "./run deps (and torch 2.13.0 with CUDA on a fresh machine)" \
    "1 kernel tests on CUDA" "$budget_tests" "${tests[*]}" \
    "2 LIF grid float32" "$budget_grid" "bench_neuron.py ${grid_args[*]} --dtype float32" \
    "2 LIF grid bfloat16" "$budget_grid" "bench_neuron.py ${grid_args[*]} --dtype bfloat16" \
    "3 SEW-ResNet-18 step" "$budget_sew" "bench_end_to_end.py ${sew_args[*]}" \
    "4 NCCL, 2 ranks (2+ GPUs)" "$budget_nccl" "${nccl[*]}"
  [ "$total_budget" -le 290 ] || { echo "the budgets add up to ${total_budget} s, over 5 minutes" >&2; exit 1; }
  echo "dry run: ok"
  exit 0
fi

"${py[@]}" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible')"
gpus=$("${py[@]}" -c "import torch; print(torch.cuda.device_count())")
"${py[@]}" -c "import torch, triton; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__, \
'| triton', triton.__version__)"
start=$SECONDS

run_step "1 kernel tests on CUDA" "$budget_tests" "${tests[@]}" || true
for dtype in float32 bfloat16; do
  run_step "2 LIF grid $dtype" "$budget_grid" "${py[@]}" benchmarks/bench_neuron.py "${grid_args[@]}" --dtype "$dtype" \
    --json "$out/gpu_bench_neuron_$dtype.json" --markdown "$out/gpu_bench_neuron_$dtype.md" || true
done
run_step "3 SEW-ResNet-18 step" "$budget_sew" "${py[@]}" benchmarks/bench_end_to_end.py "${sew_args[@]}" || true
if [ "$gpus" -ge 2 ]; then
  run_step "4 NCCL, 2 ranks" "$budget_nccl" "${nccl[@]}" || true
else
  printf '%s\t%s\t%s\t%s\n' "4 NCCL, 2 ranks" "skipped ($gpus GPU)" 0 "$budget_nccl" >>"$steps_tsv"
fi

"${py[@]}" - "$steps_tsv" "$out" <<'EOF'
import json, sys
from pathlib import Path
import torch
tsv, out = Path(sys.argv[1]), Path(sys.argv[2])
steps = [dict(zip(("step", "status", "seconds", "budget_s"), line.split("\t"))) for line in tsv.read_text().splitlines()]
for s in steps:
    s["seconds"], s["budget_s"] = int(s["seconds"]), int(s["budget_s"])
meta = {"gpu": torch.cuda.get_device_name(0), "gpus": torch.cuda.device_count(), "torch": torch.__version__}
ok = all(s["status"].startswith(("ok", "skipped")) for s in steps)
(out / "gpu_check.json").write_text(json.dumps({"ok": ok, "meta": meta, "steps": steps}, indent=2) + "\n")
lines = [f"GPU check on {meta['gpu']} (torch {meta['torch']}): {'ok' if ok else 'FAILED'}", "",
         "| step | status | seconds | budget (s) |", "| --- | --- | ---: | ---: |"]
lines += [f"| {s['step']} | {s['status']} | {s['seconds']} | {s['budget_s']} |" for s in steps]
lines += ["", f"Total {sum(s['seconds'] for s in steps)} s. Each step's figures: gpu_bench_neuron_*.md, "
          "gpu_end_to_end.md, gpu_nccl.json beside this file."]
(out / "gpu_check.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(0 if ok else 1)
EOF
say "done in $((SECONDS - start)) s after setup; results in $out/gpu_check.{json,md}"
