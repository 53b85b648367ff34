#!/bin/bash
# The distributed-imaging runs still missing on the device machine's 16-core host (CPU
# backend), with the prebuilt static binary (no Rust needed there), in two calls of < 10 min:
#
#   B=.devbin bash benchmarks/scaling-device-run2.sh file    # strong/weak from HDF5 files; route vs slab
#   B=.devbin bash benchmarks/scaling-device-run2.sh wide    # w-stacking strong; reproducible bits and cost
#
# file: strong 1e8 -> 4096^2 from a file (configs/scaling.toml, --from-file): slab
#       1x1,16x1,2x8,4x4,1x16 and route 16x1,2x8,4x4; in memory: route 16x1,2x8,4x4;
#       weak 1e7 per rank, route 1x1,16x1.
# wide: strong 2e7 -> 4096^2, 6.8 deg, 36 w-planes (configs/scaling-wide.toml, in memory):
#       1x16,2x8,4x4,16x1, from a file 1x16,16x1 (each rank reads its own rows once);
#       reproducible 1e8 -> 4096^2 in memory: 1x16, 4x4, 16x1 (same bits?) against the
#       default slab 1x16 and 16x1 (the cost).
# STRONG_VIS, WEAK_VIS, WIDE_VIS and REPRO_INT_S (the dump interval of the reproducible runs)
# shrink the runs for a trial elsewhere. Works in W=/tmp/scal2/...; $OUT gets scaling2-<call>.txt, the CSVs and a tarball of W
# (without the data files). `timeout` bounds each sweep; a CSV keeps every finished run.
set -u
B=${B:-.devbin}
OUT=${OUT:-out/device}
W=${W:-/tmp/scal2}
CALL=${1:-file}
mkdir -p "$OUT" "$W"
exec > >(tee "$OUT/scaling2-$CALL.txt") 2>&1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
L="/usr/bin/mpirun -n {ranks} --bind-to none --oversubscribe"
date -u; nproc; lscpu | grep -E "Model name|Socket|NUMA node\(s\)"
"$B/rimager" --version
variant() { # TEMPLATE NAME KEY-LINE: the template with one more [image] line
    sed "/^\[image\]/a $3" "$1" > "/tmp/$2.toml"; echo "/tmp/$2.toml"
}
run() { # DIR CONFIG LIMIT ARGS...
    local dir=$1 cfg=$2 lim=$3; shift 3
    timeout "$lim" "$B/rimager" scaling run --config "$cfg" --out "$W/$dir" --launcher "$L" \
        --rimager "$B/rimager" "$@" | grep -E "compute|FAILED|writing"
    echo "EXIT $dir $?"
}
ROUTE=$(variant configs/scaling.toml route 'reduction = "route"')
case "$CALL" in
file)
    run strong-file configs/scaling.toml 240 --mode strong --vis ${STRONG_VIS:-1e8} --from-file \
        --layouts 1x1,16x1,2x8,4x4,1x16
    # The route runs read the same file (one data directory per sweep: link it).
    mkdir -p "$W/strong-file-route" && ln -sfn "$W/strong-file/data" "$W/strong-file-route/data"
    run strong-file-route "$ROUTE" 90 --mode strong --vis ${STRONG_VIS:-1e8} --from-file --layouts 16x1,2x8,4x4
    run strong-route "$ROUTE" 60 --mode strong --vis ${STRONG_VIS:-1e8} --layouts 16x1,2x8,4x4
    run weak-route "$ROUTE" 60 --mode weak --vis ${WEAK_VIS:-1e7} --layouts 1x1,16x1
    ;;
wide)
    run strong-wide configs/scaling-wide.toml 240 --mode strong --vis ${WIDE_VIS:-2e7} --layouts 1x16,2x8,4x4,16x1
    run strong-wide-file configs/scaling-wide.toml 120 --mode strong --vis ${WIDE_VIS:-2e7} --from-file \
        --layouts 1x16,16x1
    grep -h "chunk_reads" -A3 "$W"/strong-wide-file/runs/*.json | grep '"image"' | head -4
    # Reproducible: the same bits on 1x16, 4x4 and 16x1; its cost against the default.
    # 3101 dumps of 32 256 visibilities: 1e8 (the harness's sizing, by hand).
    REPRO=$(variant configs/scaling.toml repro 'reproducible = true')
    SLAB=$(variant configs/scaling.toml slab 'reduction = "slab"')
    sed -i "s/^integration_s = .*/integration_s = ${REPRO_INT_S:-4.6452}/" "$REPRO" "$SLAB"
    for l in 1x16 4x4 16x1; do
        n=${l%x*}; t=${l#*x}
        for mode in repro slab; do
            cfg=$REPRO; [ $mode = slab ] && cfg=$SLAB
            [ $mode = slab ] && [ $l = 4x4 ] && continue
            /usr/bin/time -f "$mode $l wall %e s peak %M KiB" timeout 90 /usr/bin/mpirun -n "$n" \
                --bind-to none --oversubscribe -x RAYON_NUM_THREADS="$t" "$B/rimager" image \
                --config "$cfg" --threads "$t" --no-psf --no-png --output "$W/img-$mode-$l" \
                --metrics "$W/img-$mode-$l.json" 2>&1 | grep -E "imaging|wall|error"
        done
    done
    python3 - "$W" <<'EOF'
import sys, h5py, numpy as np
w = sys.argv[1]
imgs = {l: h5py.File(f"{w}/img-repro-{l}.h5")["image"][:] for l in ["1x16", "4x4", "16x1"]}
ref = imgs["1x16"]
for l, a in imgs.items():
    print(f"reproducible {l} vs 1x16: identical bits {np.array_equal(a.view(np.uint32), ref.view(np.uint32))}")
for l in ["1x16", "16x1"]:
    b = h5py.File(f"{w}/img-slab-{l}.h5")["image"][:].astype(np.float64)
    print(f"slab {l} vs reproducible 1x16: rel L2 {np.linalg.norm(b - ref) / np.linalg.norm(ref):.2e}")
EOF
    ;;
esac
for f in "$W"/*/scaling-*.csv; do
    [ -f "$f" ] && cp "$f" "$OUT/$CALL-$(basename "$(dirname "$f")")-$(basename "$f")"
done
tar czf "$OUT/scaling2-$CALL.tgz" --exclude='*.h5' -C "$W" .
date -u
