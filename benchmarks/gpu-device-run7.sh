#!/bin/bash
# H100: GPU accuracy tests (2-D, w-stacking, bounce copies), CLI + verify (2-D and w-stacked, GPU and CPU),
# the 1e8 benchmark, then the GPU scaling sweep.
mkdir -p $OUT
exec > >(tee $OUT/gpu-h100-run7.txt) 2>&1
set -x
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
export RUST_LOG=info
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
B=./dev-bin
timeout 200 $B/gpu_accuracy --nocapture --test-threads=1 2>&1 | grep -v "^$" | grep -v "^running\|^test .* ok$"
mkdir -p /tmp/o
C="--config configs/default.toml --source simulate"
timeout 60 $B/rimager image $C --backend gpu --output /tmp/o/gpu --metrics /tmp/o/gpu.json 2>&1 | tail -30
timeout 60 $B/rimager verify $C --image /tmp/o/gpu.h5
timeout 100 $B/rimager image $C --backend gpu --wstacking true --output /tmp/o/gpuw --metrics /tmp/o/gpuw.json 2>&1 | tail -30
timeout 100 $B/rimager verify $C --image /tmp/o/gpuw.h5 --reference both
timeout 100 $B/rimager image $C --backend cpu --wstacking true --output /tmp/o/cpuw 2>&1 | tail -5
timeout 100 $B/rimager image $C --backend gpu --wstacking true --epsilon 1e-5 --output /tmp/o/gpuw5 2>&1 | tail -5
timeout 100 $B/rimager verify $C --epsilon 1e-5 --image /tmp/o/gpuw5.h5
timeout 100 mpirun -n 2 --oversubscribe --bind-to none $B/rimager image $C --backend gpu --wstacking true --output /tmp/o/gpuw2 2>&1 | tail -5
timeout 100 $B/rimager verify $C --image /tmp/o/gpuw2.h5
cp /tmp/o/*.json $OUT/ 2>/dev/null
timeout 150 $B/gpu_bench 100000000 8192
OUT=$OUT/scaling B=$B timeout 200 bash benchmarks/scaling-device-run.sh gpu-h100
echo EXIT $?
