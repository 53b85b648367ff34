#!/usr/bin/env bash
# Device run for issue 12 after run 13 (it replaces run 14, which could not get a machine):
# on the device machine (H200 host), from the repository root, with .devbin-gpue2e/ carried:
#   .devbin-gpue2e/{rimager,gpu_bench,gpu_accuracy}   two alternating batches of device-built
#                                                     records (commit "two alternating batches")
#   .devbin-gpue2e/old/{gpu_bench,gpu_accuracy}       one batch (commit "place_samples reduces
#                                                     its tallies per block"), for comparison
# 1. the GPU accuracy tests of the new build, and its float32 epsilon test again with
#    host-built records (RIMAGER_GPU_RECORDS=host) to compare GPU vs CPU of both builders;
# 2. gpu_bench 1e8 -> 8192^2, records built on the device: the old build, the new build with
#    batches of 2^25 records (default) and of 2^27 (one batch, RIMAGER_GPU_BATCH_RECORDS);
# 3. the default job with --backend gpu and its verify.
set -uo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT" out
B=.devbin-gpue2e
exec > >(tee "$OUT/gpu-h200-e2e-run15.txt") 2>&1
date -u
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,pcie.link.gen.current,pcie.link.width.current --format=csv
mkdir -p /work/target-static-gpue2e/release && cp "$B/rimager" /work/target-static-gpue2e/release/rimager
mkdir -p /work && ln -sfn "$PWD" /work/wt-gpue2e
echo "== gpu_accuracy (new)"
timeout 120 "$B/gpu_accuracy" --test-threads 1 --nocapture 2>&1 | grep -v "^\s*$"
echo "== gpu_accuracy gpu_meets_epsilon_1e4_f32 with RIMAGER_GPU_RECORDS=host"
RIMAGER_GPU_RECORDS=host timeout 60 "$B/gpu_accuracy" --nocapture gpu_meets_epsilon_1e4_f32 2>&1 | grep -v "^\s*$"
bench() { # tag binary [env...]
    local tag=$1 bin=$2; shift 2
    echo "== gpu_bench 1e8 -> 8192^2 ($tag)"
    env GPU_BENCH_HOST=0 GPU_BENCH_REPS=6 "$@" timeout 150 "$bin" 100000000 8192 | tee "$OUT/bench-$tag.txt"
    grep "^CSV,[fc]" "$OUT/bench-$tag.txt" | sed "s/^CSV,/$tag,/" >> "$OUT/gpu-h200-e2e-run15.csv"
}
echo "build,type,eps,npix,nu,w,tile,nvis,records,runs,e2e_s,compute_s,grid_call_s,to_image_s,h2d_s,bucket_s,grid_s,fft_s,correct_s,d2h_s,e2e_best_s,err_dft" > "$OUT/gpu-h200-e2e-run15.csv"
bench two-batches-2e25 "$B/gpu_bench"
bench one-batch "$B/old/gpu_bench"
bench two-batches-2e27 "$B/gpu_bench" RIMAGER_GPU_BATCH_RECORDS=134217728
R=$B/rimager
echo "== default job, --backend gpu (1 rank x 16 threads)"
$R simulate --config configs/default.toml 2>&1 | tail -1
mpirun --oversubscribe --bind-to none -n 1 "$R" image --config configs/default.toml --backend gpu \
    --output out/gpu --metrics "$OUT/default-gpu-metrics-run15.json" 2>&1 | grep -v "^\s*$" | tail -4
$R verify --config configs/default.toml --image out/gpu.h5 2>&1 | tail -5
grep -h "^SUMMARY" "$OUT"/bench-*.txt
echo "== done $(date -u)"
