#!/usr/bin/env bash
# Strong scaling under PBS Pro / OpenPBS with OpenMPI: the SAME observation on 1, 2, 4, ...
# nodes of one allocation.
#
#   qsub -l select=8:ncpus=64:mpiprocs=1:ompthreads=64 jobs/pbs_strong.sh   # from the repo root
#
# Layout: ONE MPI rank per node (mpiprocs=1, so $PBS_NODEFILE lists each node once; the script
# de-duplicates it anyway) with rayon threads on all the node's cores (ncpus / ompthreads:
# threads = THREADS, else OMP_NUM_THREADS, else NCPUS, else nproc; passed as --threads and
# RAYON_NUM_THREADS). `--map-by ppr:1:node --bind-to none` places one rank per node and lets
# its threads use every core. For MPICH/Cray/Intel MPI set MPIRUN_ARGS, e.g. "-ppn 1".
#
# Variables (all optional): RIMAGER (default target/release/rimager), CONFIG (default
# configs/weak_scaling.toml), NCHAN (fixed channels, default 64), NODE_COUNTS (default powers
# of two up to the node count), REPEAT (default 1), RESULTS (default results/strong-$PBS_JOBID),
# MPIRUN (default mpirun), MPIRUN_ARGS (default OpenMPI's "--map-by ppr:1:node --bind-to none").
#PBS -N rimager-strong
#PBS -l select=4:ncpus=32:mpiprocs=1:ompthreads=32
#PBS -l walltime=01:00:00
#PBS -j oe
set -euo pipefail
cd "${PBS_O_WORKDIR:-.}"

RIMAGER=${RIMAGER:-target/release/rimager}
CONFIG=${CONFIG:-configs/weak_scaling.toml}
NCHAN=${NCHAN:-64}
REPEAT=${REPEAT:-1}
MPIRUN=${MPIRUN:-mpirun}
read -r -a mpirun_args <<< "${MPIRUN_ARGS:---map-by ppr:1:node --bind-to none}"
THREADS=${THREADS:-${OMP_NUM_THREADS:-${NCPUS:-$(nproc)}}}
RESULTS=${RESULTS:-results/strong-${PBS_JOBID:-manual}}
[ -x "$RIMAGER" ] || { echo "no executable $RIMAGER (cargo build --release first)" >&2; exit 1; }
mkdir -p "$RESULTS"

hosts="$RESULTS/hosts"
if [ -n "${PBS_NODEFILE:-}" ]; then sort -u "$PBS_NODEFILE" > "$hosts"; else hostname > "$hosts"; fi
NNODES=$(wc -l < "$hosts")
if [ -z "${NODE_COUNTS:-}" ]; then
    NODE_COUNTS=""; k=1
    while [ "$k" -le "$NNODES" ]; do NODE_COUNTS+="$k "; k=$((k * 2)); done
fi

run_cfg="$RESULTS/config.toml"
[ "$(grep -c '^nchan *=' "$CONFIG")" -eq 1 ] || { echo "$CONFIG needs exactly one 'nchan = ...' line" >&2; exit 1; }
sed -E "s/^nchan *=.*/nchan = $NCHAN/" "$CONFIG" > "$run_cfg"

# OpenMPI refuses to run as root unless told to (containers); only set this when root.
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export RAYON_NUM_THREADS=$THREADS
echo "strong scaling: nodes ${NODE_COUNTS}x 1 rank x $THREADS threads, nchan=$NCHAN, results in $RESULTS"
for k in $NODE_COUNTS; do
    head -n "$k" "$hosts" > "$RESULTS/hosts-$k"
    for r in $(seq 1 "$REPEAT"); do
        tag="strong-n${k}-r${r}"
        "$MPIRUN" -n "$k" --hostfile "$RESULTS/hosts-$k" "${mpirun_args[@]}" \
            "$RIMAGER" image --config "$run_cfg" --source simulate --threads "$THREADS" \
            --output "$RESULTS/$tag" --metrics "$RESULTS/$tag.json" 2> "$RESULTS/$tag.log"
        echo "$tag: $(grep -m1 '"imaging_wall_s"' "$RESULTS/$tag.json")"
        rm -f "$RESULTS/$tag.h5" "$RESULTS/$tag.fits"
    done
done
