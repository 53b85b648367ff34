#!/bin/bash
# nvidia-h200-x2, final main: 2 MPI ranks with one GPU each (node-local rank mod devices): verify 2-D, weighted
# and w-stacked images, then the 2-GPU scaling sweep. Everything is packed into $OUT/h200x2.tgz.
R=/tmp/r; mkdir -p $R
exec > >(tee $R/gpu-2xh200-run9.txt) 2>&1
set -x
date -u
nvidia-smi --query-gpu=index,name,driver_version,memory.total,power.limit --format=csv
export RUST_LOG=info
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
B=./dev-bin
timeout 200 $B/gpu_accuracy --nocapture --test-threads=1 2>&1 | grep -E "test result|FAILED|panicked"
C="--config configs/default.toml --source simulate"
mkdir -p /tmp/o
timeout 60 mpirun -n 2 --bind-to none $B/rimager image $C --backend gpu --output /tmp/o/g2 --metrics /tmp/o/g2.json 2>&1 | grep -E "GPU backend on|imaging"
timeout 60 $B/rimager verify $C --image /tmp/o/g2.h5
timeout 60 mpirun -n 2 --bind-to none $B/rimager image $C --backend gpu --epsilon 1e-5 --output /tmp/o/g2e5 2>&1 | grep -E "GPU backend on|imaging"
timeout 60 $B/rimager verify $C --epsilon 1e-5 --image /tmp/o/g2e5.h5
sed 's/^weighting = "natural"/weighting = "uniform"/' configs/default.toml > /tmp/o/uni.toml
timeout 60 mpirun -n 2 --bind-to none $B/rimager image --config /tmp/o/uni.toml --source simulate --backend gpu --output /tmp/o/g2u 2>&1 | grep -E "GPU backend on|imaging"
timeout 60 $B/rimager verify --config /tmp/o/uni.toml --source simulate --image /tmp/o/g2u.h5
timeout 60 mpirun -n 2 --bind-to none $B/rimager image $C --backend gpu --wstacking true --output /tmp/o/g2w 2>&1 | grep -E "GPU backend on|imaging"
timeout 60 $B/rimager verify $C --image /tmp/o/g2w.h5
cp /tmp/o/g2.json $R/
OUT=$R/scaling B=$B timeout 240 bash benchmarks/scaling-device-run.sh gpu-2xh200 > /dev/null 2>&1
tail -30 $R/scaling/gpu-2xh200.txt
echo EXIT $?
tar czf $OUT/h200x2.tgz -C $R .
