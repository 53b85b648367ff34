#!/usr/bin/env bash
# Scaling on one machine (a workstation, or one GPU node without a batch system): a strong
# and a weak sweep through the scaling harness (`rimager scaling run`), which writes
# scaling-{strong,weak}.csv, speedup-{strong,weak}.png and stages-{strong,weak}.png.
#
#   jobs/workstation.sh                                    # from the repository root
#   CORES=16 STRONG_VIS=1e8 WEAK_VIS=1e7 jobs/workstation.sh
#   BACKENDS=gpu LAYOUTS=1x8,2x8 jobs/workstation.sh      # one GPU per rank (node-local rank -> GPU)
#
# Layout: all ranks on this machine, started by mpirun with --bind-to none (each rank's rayon
# threads may use any core; the kernel spreads them) and --oversubscribe (OpenMPI counts
# slots, not cores, on some machines). Default layouts at CORES cores: R ranks x 1 thread for
# R = 1, 2, 4, ... CORES (MPI scaling), then R x CORES/R for R = 1, 2, 4, ... (ranks against
# threads at a fixed core count). ranks x threads never exceeds CORES. The observation is
# simulated in memory, so no data set is needed and disk speed does not enter the timings.
#
# Variables (all optional):
#   RIMAGER     binary                        (default target/release/rimager)
#   CONFIG      template config               (default configs/scaling.toml)
#   CORES       cores to use                  (default: nproc)
#   LAYOUTS     RxT list                      (default: see above)
#   STRONG_VIS  total visibilities, strong    (default 1e8; "0" skips the strong sweep)
#   WEAK_VIS    visibilities per rank, weak   (default 1e7; "0" skips the weak sweep)
#   NPIX        image side                    (default: the config's, 4096)
#   BACKENDS    cpu, gpu or cpu,gpu           (default cpu)
#   REPEAT      runs per case                 (default 1)
#   RESULTS     output directory              (default results/workstation-<date>)
#   MPIRUN      launcher command              (default mpirun)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RIMAGER=${RIMAGER:-target/release/rimager}
CONFIG=${CONFIG:-configs/scaling.toml}
CORES=${CORES:-$(nproc)}
STRONG_VIS=${STRONG_VIS:-1e8}
WEAK_VIS=${WEAK_VIS:-1e7}
BACKENDS=${BACKENDS:-cpu}
REPEAT=${REPEAT:-1}
RESULTS=${RESULTS:-results/workstation-$(date +%Y%m%d-%H%M%S)}
MPIRUN=${MPIRUN:-mpirun}
[ -x "$RIMAGER" ] || { echo "no executable $RIMAGER (cargo build --release first)" >&2; exit 1; }
if [ -z "${LAYOUTS:-}" ]; then
    LAYOUTS=""; r=1
    while [ "$r" -le "$CORES" ]; do LAYOUTS+="${LAYOUTS:+,}${r}x1"; r=$((r * 2)); done
    r=1
    while [ "$r" -lt "$CORES" ]; do
        [ $((CORES / r)) -gt 1 ] && LAYOUTS+=",${r}x$((CORES / r))"; r=$((r * 2))
    done
fi
for mode in strong weak; do
    vis=$STRONG_VIS; [ "$mode" = weak ] && vis=$WEAK_VIS
    [ "$vis" = 0 ] && continue
    echo "== $mode scaling: $vis visibilities ($mode), layouts $LAYOUTS, backends $BACKENDS"
    "$RIMAGER" scaling run --config "$CONFIG" --mode "$mode" --vis "$vis" --layouts "$LAYOUTS" \
        --backends "$BACKENDS" --repeat "$REPEAT" ${NPIX:+--npix "$NPIX"} --out "$RESULTS" \
        --launcher "$MPIRUN -n {ranks} --bind-to none --oversubscribe" --rimager "$RIMAGER"
done
echo "results in $RESULTS"
