#!/usr/bin/env bash
# Device run after the layout redesign (issue 9): every GPU path through the new driver.
# Run on the device machine from the repository root, with .devbin/ carried:
#   .devbin/rimager                  release build, --features static-hdf5 (CARGO_TARGET_DIR=/work/target-static)
#   .devbin/{gpu_accuracy,channels,wstack_cli}   the test binaries of the same build
# 1. the GPU tests (accuracy vs DFT and CPU through imaging::image_in_memory, streaming, host
#    grid round trip, w-stacking; the GPU cube test; w-stacking via the CLI);
# 2. the default job with --backend gpu and --backend cpu on the same machine, verify of both,
#    and the GPU image against the CPU image.
set -uo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT" out
B=.devbin
# The test binaries start the rimager binary from the path it had where it was built.
mkdir -p /work/target-static/release && cp "$B/rimager" /work/target-static/release/rimager
# ... and read data/ relative to the crate directory they were built in.
mkdir -p /work/wt && ln -sfn "$PWD" /work/wt/core
nvidia-smi -L
for t in gpu_accuracy channels wstack_cli; do
    echo "== $t"; "$B/$t" --test-threads 1 2>&1 | grep -v "^\s*$"
done
R=$B/rimager
$R simulate --config configs/default.toml
for be in gpu cpu; do
    echo "== default job, --backend $be (1 rank x 16 threads)"
    start=$(date +%s.%N)
    mpirun --oversubscribe --bind-to none -n 1 "$R" image --config configs/default.toml --backend "$be" \
        --output "out/$be" --metrics "$OUT/default-$be-metrics.json" 2>&1 | grep -v "^\s*$" | tail -25
    echo "wall $(python3 -c "print(f'{$(date +%s.%N) - $start:.3f}')") s (mpirun to exit)"
    $R verify --config configs/default.toml --image "out/$be.h5" 2>&1 | tail -4
done
echo "== GPU image vs CPU image"
python3 scripts/compare_h5_images.py out/cpu.h5 out/gpu.h5
