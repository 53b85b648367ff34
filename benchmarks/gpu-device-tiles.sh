#!/bin/bash
exec > >(tee $OUT/gpu-tiles.txt) 2>&1
set -x
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
timeout 500 ./dev-bin/gpu_bench 100000000 8192 16 64
echo EXIT $?
