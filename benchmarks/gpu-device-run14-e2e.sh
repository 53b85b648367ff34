#!/usr/bin/env bash
# Second device run for issue 12, after the per-block tally reduction and the image pages
# mapped while the GPU works: on the device machine (H200 host), from the repository root,
# with .devbin-gpue2e/ carried (rimager, gpu_bench, gpu_accuracy: --features static-hdf5).
# 1. the GPU accuracy tests, and the float32 epsilon test again with host-built records
#    (RIMAGER_GPU_RECORDS=host) to compare GPU vs CPU of both record builders;
# 2. gpu_bench 1e8 -> 8192^2, records built on the device only (the host-built baseline is in
#    run 13's log), medians of 5 timed runs;
# 3. the default job with --backend gpu and its verify.
set -uo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT" out
B=.devbin-gpue2e
exec > >(tee "$OUT/gpu-h200-e2e-run14.txt") 2>&1
date -u
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,pcie.link.gen.current,pcie.link.width.current --format=csv
mkdir -p /work/target-static-gpue2e/release && cp "$B/rimager" /work/target-static-gpue2e/release/rimager
mkdir -p /work && ln -sfn "$PWD" /work/wt-gpue2e
echo "== gpu_accuracy"
timeout 150 "$B/gpu_accuracy" --test-threads 1 --nocapture 2>&1 | grep -v "^\s*$"
echo "== gpu_accuracy gpu_meets_epsilon_1e4_f32 with RIMAGER_GPU_RECORDS=host"
RIMAGER_GPU_RECORDS=host timeout 60 "$B/gpu_accuracy" --nocapture gpu_meets_epsilon_1e4_f32 2>&1 | grep -v "^\s*$"
echo "== gpu_bench 1e8 -> 8192^2 (records built on the device)"
GPU_BENCH_HOST=0 GPU_BENCH_REPS=6 timeout 200 "$B/gpu_bench" 100000000 8192 | tee "$OUT/gpu_bench.txt"
grep "^CSV," "$OUT/gpu_bench.txt" | sed 's/^CSV,//' > "$OUT/gpu-h200-e2e-run14.csv"
R=$B/rimager
echo "== default job, --backend gpu (1 rank x 16 threads)"
$R simulate --config configs/default.toml 2>&1 | tail -1
mpirun --oversubscribe --bind-to none -n 1 "$R" image --config configs/default.toml --backend gpu \
    --output out/gpu --metrics "$OUT/default-gpu-metrics-run14.json" 2>&1 | grep -v "^\s*$" | tail -4
$R verify --config configs/default.toml --image out/gpu.h5 2>&1 | tail -5
echo "== done $(date -u)"
