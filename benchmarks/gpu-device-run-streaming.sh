#!/bin/bash
# Device run of the GPU backend with streaming and GPU stage metrics (one H100).
# Writes $OUT/gpu-stream-run.txt and the metrics JSON files.
#   run(command="bash dev-bin/run3.sh", carry=["dev-bin"], kind="nvidia-h100-x1")
exec > >(tee $OUT/gpu-stream-run.txt) 2>&1
set -x
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
export RUST_LOG=info
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
B=./dev-bin
timeout 150 $B/gpu_accuracy --nocapture --test-threads=1
mkdir -p /tmp/o
C="--config configs/default.toml --source simulate"
timeout 100 $B/rimager image $C --backend gpu --output /tmp/o/gpu --metrics /tmp/o/gpu.json
timeout 100 $B/rimager verify $C --image /tmp/o/gpu.h5
# Streamed with small chunks (many chunks through both pinned staging slots).
RIMAGER_GPU_CHUNK_RECORDS=100000 timeout 100 $B/rimager image $C --backend gpu --output /tmp/o/gpus --metrics /tmp/o/gpus.json
timeout 100 $B/rimager verify $C --image /tmp/o/gpus.h5
timeout 100 $B/rimager image $C --backend gpu --epsilon 1e-5 --output /tmp/o/gpu5
timeout 100 $B/rimager verify $C --epsilon 1e-5 --image /tmp/o/gpu5.h5
timeout 100 mpirun -n 2 --oversubscribe $B/rimager image $C --backend gpu --output /tmp/o/gpu2 --metrics /tmp/o/gpu2.json
timeout 100 $B/rimager verify $C --image /tmp/o/gpu2.h5
timeout 100 $B/rimager image $C --backend cpu --output /tmp/o/cpu --metrics /tmp/o/cpu.json
cat /tmp/o/gpus.json
cp /tmp/o/*.json $OUT/ 2>/dev/null
timeout 200 $B/gpu_bench 100000000 8192
RIMAGER_GPU_CHUNK_RECORDS=16777216 timeout 100 $B/gpu_bench 100000000 8192
echo EXIT $?
