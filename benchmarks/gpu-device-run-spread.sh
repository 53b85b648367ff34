#!/bin/bash
# Warp-cooperative spreading vs thread-per-record, H100: accuracy tests, then the 1e8 benchmark with both.
exec > >(tee $OUT/gpu-spread-run.txt) 2>&1
set -x
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
export RUST_LOG=info
B=./dev-bin
timeout 150 $B/gpu_accuracy --nocapture --test-threads=1 2>&1 | grep -v "^$" | tail -40
timeout 150 $B/gpu_bench 100000000 8192
RIMAGER_GPU_SPREAD=thread timeout 150 $B/gpu_bench 100000000 8192
echo EXIT $?
