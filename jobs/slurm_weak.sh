#!/usr/bin/env bash
# Weak scaling on a Slurm cluster: the observation grows with the number of ranks, so the
# work per rank stays constant; ideal weak scaling keeps the wall time flat.
#
#   sbatch --nodes=8 --cpus-per-task=64 jobs/slurm_weak.sh        # from the repository root
#
# Layout: ONE MPI rank per node (--ntasks-per-node=1) with rayon threads on all its cores
# (--cpus-per-task; threads = SLURM_CPUS_PER_TASK via --threads and RAYON_NUM_THREADS).
# Visibilities are simulated in memory (--source simulate): each rank simulates only its own
# rows, so there is no file I/O and no data set to stage.
#
# How the observation grows: for k ranks the script writes a per-run config from the
# template CONFIG with `nchan = NCHAN_PER_RANK * k`. Rows (baseline x time) are split evenly
# between ranks and every rank grids all channels of its rows, so each rank always grids
# NCHAN_PER_RANK channels' worth of visibilities (~29 M with the defaults). The image (4096^2,
# fixed 1.5" pixels) and grid stay the same, so the FFT on rank 0 and the grid reduction are
# the parts that do not shrink — that is what weak scaling measures here. (Growing the hour-
# angle range instead, ha_end_h, would also scale the data, but changes the uv coverage.)
#
# Variables (all optional):
#   RIMAGER         binary                       (default target/release/rimager)
#   CONFIG          template config              (default configs/weak_scaling.toml)
#   NCHAN_PER_RANK  channels per rank            (default 8)
#   NODE_COUNTS     node counts to run           (default powers of two up to SLURM_NNODES)
#   REPEAT          runs per node count          (default 1)
#   RESULTS         output directory             (default results/weak-$SLURM_JOB_ID)
#   SRUN_ARGS       extra srun arguments, e.g. "--mpi=pmix" if your site needs it
#SBATCH --job-name=rimager-weak
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=32
#SBATCH --exclusive
#SBATCH --time=01:00:00
#SBATCH --output=rimager-weak-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"

RIMAGER=${RIMAGER:-target/release/rimager}
CONFIG=${CONFIG:-configs/weak_scaling.toml}
NCHAN_PER_RANK=${NCHAN_PER_RANK:-8}
REPEAT=${REPEAT:-1}
NNODES=${SLURM_NNODES:-1}
THREADS=${SLURM_CPUS_PER_TASK:-$(nproc)}
RESULTS=${RESULTS:-results/weak-${SLURM_JOB_ID:-manual}}
read -r -a srun_args <<< "${SRUN_ARGS:-}"
if [ -z "${NODE_COUNTS:-}" ]; then
    NODE_COUNTS=""; k=1
    while [ "$k" -le "$NNODES" ]; do NODE_COUNTS+="$k "; k=$((k * 2)); done
fi
[ -x "$RIMAGER" ] || { echo "no executable $RIMAGER (cargo build --release first)" >&2; exit 1; }
[ "$(grep -c '^nchan *=' "$CONFIG")" -eq 1 ] || { echo "$CONFIG needs exactly one 'nchan = ...' line" >&2; exit 1; }
mkdir -p "$RESULTS"

export RAYON_NUM_THREADS=$THREADS
echo "weak scaling: nodes ${NODE_COUNTS}x 1 rank x $THREADS threads, $NCHAN_PER_RANK channels per rank, results in $RESULTS"
for k in $NODE_COUNTS; do
    nchan=$((NCHAN_PER_RANK * k))
    run_cfg="$RESULTS/config-n${k}.toml"
    sed -E "s/^nchan *=.*/nchan = $nchan/" "$CONFIG" > "$run_cfg"
    for r in $(seq 1 "$REPEAT"); do
        tag="weak-n${k}-r${r}"
        # srun does not inherit --cpus-per-task from sbatch (Slurm >= 22.05): pass it explicitly.
        srun "${srun_args[@]}" --nodes="$k" --ntasks="$k" --ntasks-per-node=1 \
            --cpus-per-task="$THREADS" \
            "$RIMAGER" image --config "$run_cfg" --source simulate --threads "$THREADS" \
            --output "$RESULTS/$tag" --metrics "$RESULTS/$tag.json" 2> "$RESULTS/$tag.log"
        echo "$tag (nchan=$nchan): $(grep -m1 '"imaging_wall_s"' "$RESULTS/$tag.json")"
        rm -f "$RESULTS/$tag.h5" "$RESULTS/$tag.fits"    # keep the metrics, not the images
    done
done
