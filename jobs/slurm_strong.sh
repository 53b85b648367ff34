#!/usr/bin/env bash
# Strong scaling on a Slurm cluster: the SAME observation imaged on 1, 2, 4, ... nodes.
#
#   sbatch --nodes=8 --cpus-per-task=64 jobs/slurm_strong.sh      # from the repository root
#
# Layout: ONE MPI rank per node (--ntasks-per-node=1), each rank running rayon threads on all
# the cores Slurm gives it (--cpus-per-task). rimager splits the rows between ranks, grids
# them with threads inside the rank, and sums the grids to rank 0 (MPI_Reduce), so one rank
# per node keeps one grid per node and the reduction volume at one grid per node.
# Threads per rank = SLURM_CPUS_PER_TASK, passed as --threads and RAYON_NUM_THREADS.
#
# Inside one allocation of N nodes the script runs `srun --nodes=k --ntasks=k` for every k
# in NODE_COUNTS (default: 1 2 4 ... up to N) and writes one metrics JSON per run into
# RESULTS. The problem is fixed: the template config with `nchan = NCHAN` for every k.
#
# Variables (all optional):
#   RIMAGER       binary                         (default target/release/rimager)
#   CONFIG        template config                (default configs/weak_scaling.toml)
#   NCHAN         channels, fixed for all k      (default 64: ~232 M visibilities)
#   NODE_COUNTS   node counts to run             (default powers of two up to SLURM_NNODES)
#   REPEAT        runs per node count            (default 1)
#   RESULTS       output directory               (default results/strong-$SLURM_JOB_ID)
#   SRUN_ARGS     extra srun arguments, e.g. "--mpi=pmix" if your site needs it
#SBATCH --job-name=rimager-strong
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=32
#SBATCH --exclusive
#SBATCH --time=01:00:00
#SBATCH --output=rimager-strong-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"

RIMAGER=${RIMAGER:-target/release/rimager}
CONFIG=${CONFIG:-configs/weak_scaling.toml}
NCHAN=${NCHAN:-64}
REPEAT=${REPEAT:-1}
NNODES=${SLURM_NNODES:-1}
THREADS=${SLURM_CPUS_PER_TASK:-$(nproc)}
RESULTS=${RESULTS:-results/strong-${SLURM_JOB_ID:-manual}}
read -r -a srun_args <<< "${SRUN_ARGS:-}"
if [ -z "${NODE_COUNTS:-}" ]; then
    NODE_COUNTS=""; k=1
    while [ "$k" -le "$NNODES" ]; do NODE_COUNTS+="$k "; k=$((k * 2)); done
fi
[ -x "$RIMAGER" ] || { echo "no executable $RIMAGER (cargo build --release first)" >&2; exit 1; }
mkdir -p "$RESULTS"

# The per-run config: the template with the channel count replaced (fixed for strong scaling).
run_cfg="$RESULTS/config.toml"
[ "$(grep -c '^nchan *=' "$CONFIG")" -eq 1 ] || { echo "$CONFIG needs exactly one 'nchan = ...' line" >&2; exit 1; }
sed -E "s/^nchan *=.*/nchan = $NCHAN/" "$CONFIG" > "$run_cfg"

export RAYON_NUM_THREADS=$THREADS
echo "strong scaling: nodes ${NODE_COUNTS}x 1 rank x $THREADS threads, nchan=$NCHAN, results in $RESULTS"
for k in $NODE_COUNTS; do
    for r in $(seq 1 "$REPEAT"); do
        tag="strong-n${k}-r${r}"
        # srun does not inherit --cpus-per-task from sbatch (Slurm >= 22.05): pass it explicitly.
        srun "${srun_args[@]}" --nodes="$k" --ntasks="$k" --ntasks-per-node=1 \
            --cpus-per-task="$THREADS" \
            "$RIMAGER" image --config "$run_cfg" --source simulate --threads "$THREADS" \
            --output "$RESULTS/$tag" --metrics "$RESULTS/$tag.json" 2> "$RESULTS/$tag.log"
        echo "$tag: $(grep -m1 '"imaging_wall_s"' "$RESULTS/$tag.json")"
        rm -f "$RESULTS/$tag.h5" "$RESULTS/$tag.fits"    # keep the metrics, not the 4096^2 images
    done
done
