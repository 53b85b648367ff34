#!/usr/bin/env bash
# Scaling on one workstation (no batch system): how the same job behaves with
#   (a) 1 rank and 1, 2, 4, ... threads               (thread scaling), and
#   (b) R ranks x (cores / R) threads, R = 1, 2, 4 ... (ranks vs. threads at fixed core count).
#
#   jobs/workstation.sh                                # from the repository root
#   CONFIG=configs/quick.toml CORES=2 jobs/workstation.sh
#
# Layout: all ranks on this machine, started by mpirun with --bind-to none so each rank's
# rayon threads may use any core; ranks x threads never exceeds CORES. The observation is
# simulated in memory (--source simulate), so no visibility file is needed and disk speed
# does not enter the timings. One metrics JSON per run goes to RESULTS.
#
# Variables (all optional):
#   RIMAGER  binary               (default target/release/rimager)
#   CONFIG   config               (default configs/default.toml: ~2 M visibilities, 1024^2)
#   CORES    cores to use         (default: nproc)
#   REPEAT   runs per case        (default 1)
#   RESULTS  output directory     (default results/workstation-<date>)
#   MPIRUN   launcher             (default mpirun)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RIMAGER=${RIMAGER:-target/release/rimager}
CONFIG=${CONFIG:-configs/default.toml}
CORES=${CORES:-$(nproc)}
REPEAT=${REPEAT:-1}
RESULTS=${RESULTS:-results/workstation-$(date +%Y%m%d-%H%M%S)}
MPIRUN=${MPIRUN:-mpirun}
[ -x "$RIMAGER" ] || { echo "no executable $RIMAGER (cargo build --release first)" >&2; exit 1; }
mkdir -p "$RESULTS"
cp "$CONFIG" "$RESULTS/config.toml"

# OpenMPI refuses to run as root unless told to; only set this when we are root.
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

run() {  # run TAG RANKS THREADS
    local tag=$1 ranks=$2 threads=$3 r
    for r in $(seq 1 "$REPEAT"); do
        RAYON_NUM_THREADS=$threads "$MPIRUN" -n "$ranks" --bind-to none \
            "$RIMAGER" image --config "$CONFIG" --source simulate --threads "$threads" --no-psf \
            --output "$RESULTS/$tag-r$r" --metrics "$RESULTS/$tag-r$r.json" 2> "$RESULTS/$tag-r$r.log"
        echo "$tag-r$r ($ranks rank(s) x $threads thread(s)): $(grep -m1 '"imaging_wall_s"' "$RESULTS/$tag-r$r.json")"
        rm -f "$RESULTS/$tag-r$r.h5" "$RESULTS/$tag-r$r.fits"
    done
}

echo "(a) thread scaling, 1 rank"
t=1
while [ "$t" -le "$CORES" ]; do run "threads-t$t" 1 "$t"; t=$((t * 2)); done
echo "(b) ranks x threads = $CORES cores"
ranks=1
while [ "$ranks" -le "$CORES" ]; do
    run "ranks-n$ranks" "$ranks" $((CORES / ranks)); ranks=$((ranks * 2))
done
echo "metrics in $RESULTS"
