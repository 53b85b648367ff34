#!/bin/bash
# Device run of the GPU backend (issue 3). Writes $OUT/gpu-run.txt.
exec > >(tee $OUT/gpu-run.txt) 2>&1
set -x
date -u
nvidia-smi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
export RUST_LOG=info
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
B=./dev-bin
timeout 120 $B/gpu_accuracy --nocapture --test-threads=1
mkdir -p /tmp/o
timeout 120 $B/rimager image --config configs/default.toml --source simulate --backend gpu --output /tmp/o/gpu --metrics /tmp/o/gpu.json
timeout 120 $B/rimager image --config configs/default.toml --source simulate --backend cpu --output /tmp/o/cpu --metrics /tmp/o/cpu.json
timeout 120 $B/rimager verify --config configs/default.toml --source simulate --image /tmp/o/gpu.h5
timeout 120 $B/rimager image --config configs/default.toml --source simulate --backend gpu --epsilon 1e-5 --output /tmp/o/gpu5
timeout 120 $B/rimager verify --config configs/default.toml --source simulate --epsilon 1e-5 --image /tmp/o/gpu5.h5
timeout 120 mpirun -n 2 --oversubscribe $B/rimager image --config configs/default.toml --source simulate --backend gpu --output /tmp/o/gpu2 --metrics /tmp/o/gpu2.json
timeout 120 $B/rimager verify --config configs/default.toml --source simulate --image /tmp/o/gpu2.h5
timeout 60 $B/rimager image --config configs/default.toml --source simulate --backend auto --output /tmp/o/auto --no-psf
cp /tmp/o/*.json $OUT/ 2>/dev/null
timeout 280 $B/gpu_bench 100000000 8192
echo EXIT $?
