#!/bin/bash
# Device-machine scaling sweeps with the prebuilt binary (no Rust, no Python needed):
#   bash benchmarks/scaling-device-run.sh SWEEP        (from the repository root)
# SWEEP is one of cpu-strong, cpu-weak, gpu-h100, gpu-2xh200. Each writes
# $OUT/<SWEEP>/{scaling-*.csv, speedup-*.png, stages-*.png, runs/} and $OUT/<SWEEP>.txt, and is
# sized to finish in under ~6 minutes (the `timeout` is the safety net: the CSV keeps every
# run that finished). B (default ./dev-bin) is the directory holding the rimager binary.
set -u
SWEEP=${1:?usage: scaling-device-run.sh cpu-strong|cpu-weak|gpu-h100|gpu-2xh200}
B=${B:-./dev-bin}
OUT=${OUT:-out/device}
mkdir -p "$OUT"
exec > >(tee "$OUT/$SWEEP.txt") 2>&1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=${MPIRUN:-/usr/bin/mpirun}
# --bind-to none: each rank's rayon threads may use any core (2 ranks x 8 threads do not pile
# onto the cores OpenMPI would bind them to); --oversubscribe: slots need not match cores.
L="$MPIRUN -n {ranks} --bind-to none --oversubscribe"
date -u; nproc; nvidia-smi --query-gpu=name,memory.total,power.limit --format=csv 2>/dev/null
run() { timeout 560 "$B/rimager" scaling run --config configs/scaling.toml --out "$OUT/$SWEEP" --launcher "$L" "$@"; echo "EXIT $?"; }
case "$SWEEP" in
    cpu-strong) run --mode strong --vis 1e8 --layouts 1x1,2x1,4x1,8x1,16x1,1x16,2x8,4x4 ;;
    cpu-weak)   run --mode weak --vis 1e7 --layouts 1x1,2x1,4x1,8x1,16x1,1x16,2x8,4x4 ;;
    gpu-h100)   run --mode strong --vis 1e8 --backends gpu,cpu --layouts 1x16 --repeat 2 ;;
    gpu-2xh200) run --mode strong --vis 1e8 --backends gpu --layouts 1x8,2x8 --repeat 2
                run --mode weak --vis 1e8 --backends gpu --layouts 1x8,2x8 --repeat 2 ;;
    *) echo "unknown sweep $SWEEP"; exit 2 ;;
esac
