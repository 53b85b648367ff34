#!/usr/bin/env bash
# Shared body of jobs/slurm_strong.sh and jobs/slurm_weak.sh (run inside their allocation;
# MODE and VIS are set by them): one rank per node, SLURM_CPUS_PER_TASK threads per rank,
# one GPU per rank for the GPU backend, node counts 1, 2, 4, ... up to SLURM_NNODES.
# LAYOUTS ("RANKSxTHREADS,...", e.g. "1x1,2x1") replaces the node counts: each layout's ranks
# are then placed by Slurm (several per node where they fit; one-node sweeps and the
# scheduler test, tests/slurm_sweep.rs, use it).
set -euo pipefail
RIMAGER=${RIMAGER:-target/release/rimager}
CONFIG=${CONFIG:-configs/scaling.toml}
BACKENDS=${BACKENDS:-cpu}
REPEAT=${REPEAT:-1}
NNODES=${SLURM_NNODES:-1}
THREADS=${SLURM_CPUS_PER_TASK:-$(nproc)}
RESULTS=${RESULTS:-results/${MODE}-${SLURM_JOB_ID:-manual}}
if [ -z "${NODE_COUNTS:-}" ]; then
    NODE_COUNTS=""; k=1
    while [ "$k" -le "$NNODES" ]; do NODE_COUNTS+="$k "; k=$((k * 2)); done
fi
[ -x "$RIMAGER" ] || { echo "no executable $RIMAGER (cargo build --release first)" >&2; exit 1; }
layouts=""
for k in $NODE_COUNTS; do layouts+="${layouts:+,}${k}x${THREADS}"; done
gpu_args=""
case "$BACKENDS" in *gpu*) gpu_args="--gpus-per-task=1" ;; esac
# srun does not inherit --cpus-per-task from sbatch (Slurm >= 22.05): pass it explicitly.
launcher="srun ${SRUN_ARGS:-} --nodes={ranks} --ntasks={ranks} --ntasks-per-node=1 --cpus-per-task={threads} $gpu_args"
if [ -n "${LAYOUTS:-}" ]; then
    layouts=$LAYOUTS
    launcher="srun ${SRUN_ARGS:-} --ntasks={ranks} --cpus-per-task={threads} $gpu_args"
fi
export RAYON_NUM_THREADS=$THREADS
echo "$MODE scaling: layouts $layouts, $VIS visibilities ($MODE), backends $BACKENDS, results in $RESULTS"
"$RIMAGER" scaling run --config "$CONFIG" --mode "$MODE" --vis "$VIS" --layouts "$layouts" \
    --backends "$BACKENDS" --repeat "$REPEAT" ${NPIX:+--npix "$NPIX"} --out "$RESULTS" \
    --launcher "$launcher" --rimager "$RIMAGER"
