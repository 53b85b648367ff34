#!/usr/bin/env bash
# Reproducible mode and record routing against the default slab reduction, on one machine.
#
#   benchmarks/repro-dev-run.sh [OUT_DIR]      (default benchmarks/results/repro-2026-12-02)
#
# Data: configs/default.toml's observation (MeerKAT, 243 936 rows x 8 channels = 1.95 M
# visibilities), simulated once to a file. Two images of it: 1024² (the default config, grid
# 1920²) and 4096² (grid 7680², the same visibilities on a 16x larger grid: sparse). Modes:
# slab (default: grid locally, reduce-scatter, slab FFT), route (records routed to slab
# owners, then slab FFT) and reproducible (route on every rank count, one included). Layouts:
# 1, 2 and 4 ranks x 1 thread (4 oversubscribed on a 2-core machine). REPEAT runs each.
# Writes runs/<case>.json (metrics), runs/<case>.log and results.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/repro-2026-12-02}
R=${RIMAGER:-${CARGO_TARGET_DIR:-target}/release/rimager}
REPEAT=${REPEAT:-3}
TMP=${TMPDIR:-/tmp}/rimager-repro-bench
mkdir -p "$OUT/runs" "$TMP"
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export RAYON_NUM_THREADS=1
VIS=$TMP/default_vis.h5
[ -f "$VIS" ] || "$R" simulate --config configs/default.toml --output "$VIS"
for npix in 1024 4096; do
  for mode in slab route reproducible; do
    case $mode in
      reproducible) flags=(--reproducible) ;;
      *) flags=(--reduction "$mode") ;;
    esac
    for ranks in 1 2 4; do
      for rep in $(seq 1 "$REPEAT"); do
        name=n${npix}-${mode}-${ranks}x1-r${rep}
        mpirun --oversubscribe --bind-to none -n "$ranks" -x RAYON_NUM_THREADS \
          "$R" image --config configs/default.toml --input "$VIS" --nx "$npix" --ny "$npix" \
          --threads 1 --no-png "${flags[@]}" --output "$TMP/$name" \
          --metrics "$OUT/runs/$name.json" > "$OUT/runs/$name.log" 2>&1
        echo "$name done"
      done
    done
  done
done
python3 - "$OUT" <<'EOF'
import csv, glob, json, os, sys
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(out, "runs", "*.json"))):
    m = json.load(open(f))
    name = os.path.basename(f)[:-5]
    npix, mode, layout, rep = name.split("-")
    st = {s["stage"]: s for s in m["stages"]}
    per = lambda k: st[k]["per_rank_s"]
    # Compute per rank: read + grid + reduce + fft + correct + psf (the PSF's own routing or
    # reduction and transform); the slowest rank.
    comp = [sum(x) for x in zip(*(per(k) for k in ("read", "grid", "reduce", "fft", "correct", "psf")))]
    b = m["bytes_reduced_per_rank"]
    rows.append({
        "image": npix[1:], "mode": mode, "ranks": m["ranks"], "threads": m["threads_per_rank"],
        "repeat": rep[1:], "compute_s": round(max(comp), 4),
        "grid_s_max": round(st["grid"]["max_s"], 4), "reduce_s_max": round(st["reduce"]["max_s"], 4),
        "psf_s_max": round(st["psf"]["max_s"], 4), "fft_s_max": round(st["fft"]["max_s"], 4),
        "total_wall_s": round(m["total_wall_s"], 4),
        "bytes_sent_per_rank_max": max(b), "bytes_sent_per_rank_mean": round(sum(b) / len(b)),
        "peak_rss_mib_max": round(max(m["peak_rss_bytes_per_rank"]) / 2**20, 1),
    })
with open(os.path.join(out, "results.csv"), "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows)
# Summary: the fastest repeat of each case.
best = {}
for r in rows:
    k = (r["image"], r["mode"], r["ranks"])
    if k not in best or r["compute_s"] < best[k]["compute_s"]:
        best[k] = r
print("image mode          ranks compute_s(best) bytes/rank(max, MiB) peak MiB")
for k in sorted(best, key=lambda k: (int(k[0]), k[2], k[1])):
    r = best[k]
    print(f"{k[0]:>5} {k[1]:<13} {k[2]:>5} {r['compute_s']:>10.3f} {r['bytes_sent_per_rank_max']/2**20:>12.1f} {r['peak_rss_mib_max']:>8.1f}")
EOF
