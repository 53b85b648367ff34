#!/usr/bin/env bash
# Shared body of jobs/pbs_strong.sh and jobs/pbs_weak.sh (MODE and VIS set by them): one
# rank per node, THREADS threads per rank, node counts 1, 2, 4, ... up to the allocation.
set -euo pipefail
RIMAGER=${RIMAGER:-target/release/rimager}
CONFIG=${CONFIG:-configs/scaling.toml}
BACKENDS=${BACKENDS:-cpu}
REPEAT=${REPEAT:-1}
THREADS=${THREADS:-${OMP_NUM_THREADS:-${NCPUS:-$(nproc)}}}
RESULTS=${RESULTS:-results/${MODE}-${PBS_JOBID:-manual}}
LAUNCHER=${LAUNCHER:-mpirun -n {ranks} --map-by ppr:1:node --bind-to none}
if [ -n "${PBS_NODEFILE:-}" ]; then NNODES=$(sort -u "$PBS_NODEFILE" | wc -l); else NNODES=1; fi
if [ -z "${NODE_COUNTS:-}" ]; then
    NODE_COUNTS=""; k=1
    while [ "$k" -le "$NNODES" ]; do NODE_COUNTS+="$k "; k=$((k * 2)); done
fi
[ -x "$RIMAGER" ] || { echo "no executable $RIMAGER (cargo build --release first)" >&2; exit 1; }
layouts=""
for k in $NODE_COUNTS; do layouts+="${layouts:+,}${k}x${THREADS}"; done
export RAYON_NUM_THREADS=$THREADS
echo "$MODE scaling: layouts $layouts, $VIS visibilities ($MODE), backends $BACKENDS, results in $RESULTS"
"$RIMAGER" scaling run --config "$CONFIG" --mode "$MODE" --vis "$VIS" --layouts "$layouts" \
    --backends "$BACKENDS" --repeat "$REPEAT" ${NPIX:+--npix "$NPIX"} --out "$RESULTS" \
    --launcher "$LAUNCHER" --rimager "$RIMAGER"
