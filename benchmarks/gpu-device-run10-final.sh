#!/bin/bash
# H100, final commit of session 2: GPU accuracy tests, GPU cube test, verify of GPU images, the 1e8 benchmark
# with both spreading kernels.
mkdir -p $OUT
exec > >(tee $OUT/gpu-h100-final2.txt) 2>&1
set -x
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
export RUST_LOG=info
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
B=./dev-bin
timeout 200 $B/gpu_accuracy --nocapture --test-threads=1 2>&1 | grep -v "^$" | grep -v "^running"
mkdir -p /work/target-gpu/release && cp $B/rimager /work/target-gpu/release/rimager
timeout 120 $B/channels_test --nocapture gpu_cube 2>&1 | grep -v "^$"
mkdir -p /tmp/o
C="--config configs/default.toml --source simulate"
timeout 60 $B/rimager image $C --backend gpu --output /tmp/o/gpu 2>&1 | tail -2
timeout 60 $B/rimager verify $C --image /tmp/o/gpu.h5
timeout 60 $B/rimager image $C --backend gpu --wstacking true --epsilon 1e-5 --output /tmp/o/gpuw5 2>&1 | tail -2
timeout 60 $B/rimager verify $C --epsilon 1e-5 --image /tmp/o/gpuw5.h5
timeout 150 $B/gpu_bench 100000000 8192 | grep -E "run 1|SUMMARY|error vs"
RIMAGER_GPU_SPREAD=thread timeout 150 $B/gpu_bench 100000000 8192 | grep -E "run 1|SUMMARY|error vs"
echo EXIT $?
