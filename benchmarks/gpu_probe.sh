#!/usr/bin/env bash
# A first, short look at a lent GPU: where the time of one training step goes, before choosing the GPU path.
#     bash benchmarks/gpu_probe.sh      (from the repository root; prints tables, about 4 minutes)
set -uo pipefail
cd "$(dirname "$0")/.."
source benchmarks/gpu_env.sh
step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }
step "device"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader
python3 -c "import torch, textual, platformdirs; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0)); import mnist_tui.engine.trainer"
nproc
step "one step, several ways"
timeout 150 python3 benchmarks/gpu_step_probe.py --device cuda --steps 300
step "tutorial recipe: tutorial pipeline vs engine, one epoch each, same GPU"
timeout 90 python3 benchmarks/bench_tutorial.py --device cuda --steps 600
step "fast preset, 5 seeds, default options"
timeout 60 python3 benchmarks/bench_all.py --device cuda --no-tutorial --presets fast --seeds 0,1,2,3,4
step "done"
