#!/bin/bash
# Device run of the GPU backend with two GPUs (nvidia-h200-x2): 2 MPI ranks, one GPU each
# (device = node-local rank mod device count). Writes $OUT/gpu-2gpu-run.txt.
#   run(command="bash dev-bin/run2.sh", carry=["dev-bin"], kind="nvidia-h200-x2")
exec > >(tee $OUT/gpu-2gpu-run.txt) 2>&1
set -x
date -u
nvidia-smi
export RUST_LOG=info
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
B=./dev-bin
timeout 150 $B/gpu_accuracy --nocapture --test-threads=1
mkdir -p /tmp/o
# Two ranks, two GPUs; then the CPU backend on two ranks for comparison; verify both.
timeout 120 mpirun -n 2 --bind-to none $B/rimager image --config configs/default.toml --source simulate --backend gpu --output /tmp/o/gpu2 --metrics /tmp/o/gpu2.json
timeout 120 mpirun -n 2 --bind-to none $B/rimager image --config configs/default.toml --source simulate --backend cpu --output /tmp/o/cpu2 --metrics /tmp/o/cpu2.json
timeout 120 $B/rimager verify --config configs/default.toml --source simulate --image /tmp/o/gpu2.h5
timeout 120 $B/rimager verify --config configs/default.toml --source simulate --image /tmp/o/cpu2.h5
# float64 at 1e-5 on two GPUs.
timeout 120 mpirun -n 2 --bind-to none $B/rimager image --config configs/default.toml --source simulate --backend gpu --epsilon 1e-5 --output /tmp/o/gpu2e5
timeout 120 $B/rimager verify --config configs/default.toml --source simulate --epsilon 1e-5 --image /tmp/o/gpu2e5.h5
$B/rimager info /tmp/o/gpu2.h5
$B/rimager info /tmp/o/cpu2.h5
cp /tmp/o/*.json $OUT/ 2>/dev/null
echo EXIT $?
