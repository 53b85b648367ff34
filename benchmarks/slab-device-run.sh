#!/bin/bash
# Slab reduction vs root reduction on the device machine's 16-core host (CPU backend), one
# call, with the prebuilt static binary (no Rust needed there):
#
#   B=.devbin-slab bash benchmarks/slab-device-run.sh        (from the repository root)
#   B=.devbin-slab bash benchmarks/slab-device-run.sh again  (second call: see the script)
#
# 1. strong scaling, 1e8 visibilities -> 4096^2 (configs/scaling.toml, in-memory simulation,
#    eps 1e-4, float32): slab 1x1,16x1,2x8,4x4,1x16 (then 2x1,4x1,8x1 for the model check); root 16x1,2x8,4x4,1x16 (the 1x1 run is
#    the same code for both modes);
# 2. weak scaling, 1e7 visibilities per rank: slab 1x1,16x1; root 16x1;
# 3. GPU: 1 rank and 2 ranks sharing the one GPU (--backend gpu, slab), same image.
# Works in W=/tmp/slab-device/{strong-slab,strong-root,weak-slab,weak-root}/ (CSV, plots,
# runs/); $OUT gets slab-device.txt, the four CSVs and slab-device.tgz (all of W). `timeout`
# bounds each sweep; a CSV keeps every run that finished.
set -u
B=${B:-.devbin-slab}
OUT=${OUT:-out/device}
W=${W:-/tmp/slab-device}
mkdir -p "$OUT" "$W"
exec > >(tee "$OUT/slab-device.txt") 2>&1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
L="/usr/bin/mpirun -n {ranks} --bind-to none --oversubscribe"
date -u; nproc; lscpu | grep -E "Model name|Socket|NUMA node\(s\)"
ROOTCFG=/tmp/scaling-root.toml
sed '/^\[image\]/a reduction = "root"' configs/scaling.toml > "$ROOTCFG"
run() { # DIR CONFIG LIMIT ARGS...
    local dir=$1 cfg=$2 lim=$3; shift 3
    timeout "$lim" "$B/rimager" scaling run --config "$cfg" --out "$W/$dir" --launcher "$L" \
        --rimager "$B/rimager" "$@" | grep -E "compute|FAILED"
    echo "EXIT $dir $?"
}
if [ "${1:-}" = again ]; then
    # Second call: per-slab MPI_Reduce (the new default) instead of MPI_Reduce_scatter, with the
    # slab's step times in each run's log (RUST_LOG); root repeated for the spread.
    export RUST_LOG=rimager::imaging::reduce=debug
    L="$L -x RUST_LOG"
    run strong-slab2 configs/scaling.toml 120 --mode strong --vis 1e8 --layouts 16x1,2x8,4x4,2x1,4x1,8x1
    run weak-slab2 configs/scaling.toml 40 --mode weak --vis 1e7 --layouts 16x1
    run strong-root2 "$ROOTCFG" 40 --mode strong --vis 1e8 --layouts 16x1,2x8
    grep -h "slab:" "$W"/strong-slab2/runs/*.log "$W"/weak-slab2/runs/*.log | sed 's/^.*slab:/slab:/' | head -20
    for d in strong-slab2 weak-slab2 strong-root2; do
        for f in "$W/$d"/scaling-*.csv; do [ -f "$f" ] && cp "$f" "$OUT/$d-$(basename "$f")"; done
    done
    tar czf "$OUT/slab-device-again.tgz" -C "$W" .
    exit 0
fi
run strong-slab configs/scaling.toml 200 --mode strong --vis 1e8 --layouts 1x1,16x1,2x8,4x4,1x16,2x1,4x1,8x1
run strong-root "$ROOTCFG" 90 --mode strong --vis 1e8 --layouts 16x1,2x8,4x4,1x16
run weak-slab configs/scaling.toml 60 --mode weak --vis 1e7 --layouts 1x1,16x1
run weak-root "$ROOTCFG" 40 --mode weak --vis 1e7 --layouts 16x1
# GPU: 2 ranks on the one GPU give the image of 1 rank (slab reduction through host memory).
for n in 1 2; do
    timeout 60 /usr/bin/mpirun -n $n --oversubscribe "$B/rimager" image --config configs/quick.toml \
        --source simulate --backend gpu --reduction slab --no-png --output /tmp/gpu$n > "$W/gpu$n.log" 2>&1
    echo "EXIT gpu$n $?"; tail -1 "$W/gpu$n.log"
done
python3 "$B/compare_h5_images.py" /tmp/gpu1.h5 /tmp/gpu2.h5
for d in strong-slab strong-root weak-slab weak-root; do
    for f in "$W/$d"/scaling-*.csv; do [ -f "$f" ] && cp "$f" "$OUT/$d-$(basename "$f")"; done
done
tar czf "$OUT/slab-device.tgz" -C "$W" .
date -u
