#!/bin/bash
# H100, final main: GPU accuracy tests (2-D, w-stacking, bounce copies), the GPU cube test, CLI checks of
# weighting / cube / w-stacking on the GPU with verify, then the CPU strong + weak sweeps and the GPU sweep.
mkdir -p $OUT
exec > >(tee $OUT/gpu-h100-run8.txt) 2>&1
set -x
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
export RUST_LOG=info
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
B=./dev-bin
timeout 200 $B/gpu_accuracy --nocapture --test-threads=1 2>&1 | grep -v "^$" | grep -v "^running"
# The cube test runs the CLI binary from the path it was built at.
mkdir -p /work/target-gpu/release && cp $B/rimager /work/target-gpu/release/rimager
timeout 120 $B/channels_test --nocapture gpu_cube 2>&1 | grep -v "^$"
mkdir -p /tmp/o
C="--config configs/default.toml --source simulate"
timeout 60 $B/rimager image $C --backend gpu --output /tmp/o/gpu 2>&1 | tail -3
timeout 60 $B/rimager verify $C --image /tmp/o/gpu.h5
sed 's/^weighting = "natural"/weighting = "briggs"\nrobust = 0.0/' configs/default.toml > /tmp/o/briggs.toml
timeout 60 mpirun -n 2 --oversubscribe --bind-to none $B/rimager image --config /tmp/o/briggs.toml --source simulate --backend gpu --channels-out 4 --output /tmp/o/gpub 2>&1 | tail -3
timeout 60 $B/rimager verify --config /tmp/o/briggs.toml --source simulate --image /tmp/o/gpub.h5
timeout 60 $B/rimager info /tmp/o/gpub.h5 | head -20
ls -la /tmp/o/
OUT=$OUT/scaling B=$B timeout 150 bash benchmarks/scaling-device-run.sh cpu-strong
OUT=$OUT/scaling B=$B timeout 120 bash benchmarks/scaling-device-run.sh cpu-weak
OUT=$OUT/scaling B=$B timeout 100 bash benchmarks/scaling-device-run.sh gpu-h100
echo EXIT $?
