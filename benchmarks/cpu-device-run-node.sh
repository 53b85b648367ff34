#!/bin/bash
# Single-node CPU benchmark on the device machine's host (16 cores): rimager vs ducc0
# (wgridder.vis2dirty), same data, same run, same thread counts, one rank.
#
#   bash benchmarks/cpu-device-run-node.sh big     # 1e8 vis -> 4096^2: f32 eps 1e-4 at 1..16 threads, f64 eps 1e-6 at 1 and 16
#   bash benchmarks/cpu-device-run-node.sh again   # big f32 at 1 and 16 threads, then 1e7 and w-stacking (f32)
#   bash benchmarks/cpu-device-run-node.sh small   # 1e7 vis -> 4096^2 (both cases, 1 and 16 threads) and w-stacking (5.7 deg field)
#   bash benchmarks/cpu-device-run-node.sh fold    # after the w-stacking rework: 1e8 f32 at 1, 4, 16 threads, 1e7 f32/f64,
#                                                  # w-stacking (5.7 deg field) f32 1e-4 and f64 1e-6 at 1 and 16 threads
#
# Needs: .devbin/rimager (static-HDF5 release build), .whl/ducc0-*.whl (cp312); results go to
# $OUT (CSV + JSON per case, machine facts, log).
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site || exit 1
export PYTHONUNBUFFERED=1
{ lscpu; echo "THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"; grep -m1 flags /proc/cpuinfo; nproc; free -g; } > "$OUT/machine-$1.txt" 2>&1
BIN=$PWD/.devbin/rimager
WORK=/tmp/bench
B="python3 scripts/bench_vs_ducc0.py --rimager $BIN --work-dir $WORK --results-dir $OUT"
case "$1" in
  big)
    $B --nrow 12500000 --ndft 8 --threads 1,2,4,8,16 --cases 1e-4:single --tag cpu-node-1e8-f32 || exit 1
    $B --nrow 12500000 --ndft 8 --threads 1,16 --cases 1e-6:double --tag cpu-node-1e8-f64 || exit 1
    ;;
  again)
    $B --nrow 12500000 --ndft 8 --threads 1,16 --cases 1e-4:single --tag cpu-node-1e8-f32-scan || exit 1
    $B --nrow 1250000 --ndft 32 --threads 1,16 --cases 1e-4:single,1e-6:double --tag cpu-node-1e7 || exit 1
    $B --wstack --nrow 250000 --npix 2048 --cell-arcsec 10 --max-w-m 2000 --ndft 32 --threads 1,16 \
       --cases 1e-4:single --tag cpu-node-wstack-2e6 || exit 1
    ;;
  small)
    $B --nrow 1250000 --ndft 32 --threads 1,16 --cases 1e-4:single,1e-6:double --repeat 2 --tag cpu-node-1e7 || exit 1
    $B --wstack --nrow 250000 --npix 2048 --cell-arcsec 10 --max-w-m 2000 --ndft 32 --threads 1,16 \
       --cases 1e-4:single,1e-6:double --tag cpu-node-wstack-2e6 || exit 1
    ;;
  fold)
    $B --nrow 12500000 --ndft 8 --threads 1,16 --cases 1e-4:single --tag cpu-node-1e8-f32-fold || exit 1
    $B --nrow 1250000 --ndft 32 --threads 1,16 --cases 1e-4:single,1e-6:double --tag cpu-node-1e7-fold || exit 1
    $B --wstack --nrow 250000 --npix 2048 --cell-arcsec 10 --max-w-m 2000 --ndft 32 --threads 1,16 \
       --cases 1e-4:single,1e-6:double --tag cpu-node-wstack-2e6-fold || exit 1
    ;;
esac
