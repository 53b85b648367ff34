#!/usr/bin/env python3
"""Peer benchmark: rimager vs ducc0.wgridder.vis2dirty, same data, same run.

For each case (epsilon, precision) and each thread count both tools make the
natural-weighted dirty image of the same HDF5 visibility file with that many
threads (rimager: one rank); we report seconds, visibilities per second per
thread, the relative L2 difference between the two images, and the accuracy of
both against a direct Fourier transform (numpy, float64) at a random sample of
pixels; for rimager also its peak resident memory and its per-phase times.

  cargo build --release
  python3 scripts/bench_vs_ducc0.py            # 10M vis, 4096^2, eps 1e-4 f32 + 1e-6 f64, 1 thread
  python3 scripts/bench_vs_ducc0.py --threads 1,16 --nrow 12500000   # 1e8 vis, 1 and 16 threads
  python3 scripts/bench_vs_ducc0.py --wstack --cell-arcsec 5 --npix 4096  # w-stacking, 5.7 deg field
  python3 scripts/bench_vs_ducc0.py --quick    # 200k vis, 1024^2 smoke test

What is timed (see benchmarks/README.md):
  ducc0    vis2dirty() only (scripts/ducc0_reference.py, attr seconds_gridding):
           data already in memory as numpy arrays.
  rimager  "in memory": grid + fft + correct stages of its --metrics JSON minus
           nothing read (data already in memory, like vis2dirty); "incl. read":
           imaging_wall_s (the read not hidden behind gridding + grid + reduce +
           fft + correct: what a user waits for, from the file).

The data set is made once with scripts/make_test_vis.py and cached in the work
dir.  The pixel size and the uv extent are matched so that the longest
baseline at the highest frequency has |uv| * cell = --uv-fill / 2 (default
0.45), i.e. the data fill 90% of the uv plane the pixel size allows and no
sample is dropped by either tool.

Results: benchmarks/results/<tag>.json and .csv, one row per (tool, case).
Uses only numpy, h5py, ducc0 and the standard library.
"""
import argparse
import csv
import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

C = 299792458.0
HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# make_test_vis.py's frequency grid (defaults): centre 1.4 GHz, 1 MHz channels.
FREQ_CENTRE_HZ = 1.4e9
CHAN_WIDTH_HZ = 1.0e6

DEFAULT_CASES = "1e-4:single,1e-6:double"


def log(*a):
    print(*a, flush=True)


def run(cmd, env=None):
    """Runs `cmd` (a list), echoing it; returns its stdout. Raises on failure."""
    log("$ " + shlex.join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if p.stdout:
        sys.stdout.write("  | " + p.stdout.rstrip().replace("\n", "\n  | ") + "\n")
    if p.returncode != 0:
        raise RuntimeError(f"command failed with exit status {p.returncode}: {shlex.join(cmd)}")
    return p.stdout


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        avail = len(os.sched_getaffinity(0))
    except AttributeError:
        avail = os.cpu_count()
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    flags = " ".join(x for x in ("sse4_1", "avx", "avx2", "fma", "avx512f") if x in have)
                    break
    except OSError:
        pass
    return {"cpu_model": cpu, "cores": os.cpu_count(), "cores_available": avail,
            "simd_flags": flags, "os": platform.platform(), "python": platform.python_version()}


def git_commit():
    # A binary built from another commit (a before/after comparison) names it here.
    if os.environ.get("RIMAGER_COMMIT"):
        return os.environ["RIMAGER_COMMIT"]
    try:
        out = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty", "--abbrev=12"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def eps_label(eps):
    """1e-4 -> "1e-4"."""
    return ("%.0e" % eps).replace("e-0", "e-").replace("e+0", "e+")


def parse_cases(s):
    cases = []
    for item in s.split(","):
        eps, _, prec = item.strip().partition(":")
        prec = prec or "auto"
        if prec not in ("auto", "single", "double"):
            sys.exit(f"bad precision {prec!r} in --cases (auto|single|double)")
        cases.append((float(eps), prec))
    return cases


def make_data(a, work):
    """Generates (or reuses) the visibility file; returns its path and the max-uv in metres."""
    fmax = FREQ_CENTRE_HZ + (a.nchan - 1) / 2.0 * CHAN_WIDTH_HZ
    cell_rad = math.radians(a.cell_arcsec / 3600.0)
    max_uv_m = 0.5 * a.uv_fill / cell_rad * C / fmax
    path = work / f"vis_nrow{a.nrow}_nchan{a.nchan}_uv{max_uv_m:.0f}m_w{a.max_w_m:.0f}m_seed{a.seed}.h5"
    if path.exists():
        log(f"reusing {path}")
    else:
        tmp = path.with_suffix(".h5.tmp")
        run([sys.executable, str(HERE / "make_test_vis.py"), "--nrow", str(a.nrow), "--nchan", str(a.nchan),
             "--seed", str(a.seed), "--max-uv-m", repr(max_uv_m), "--max-w-m", repr(a.max_w_m),
             "--freq-centre-hz", repr(FREQ_CENTRE_HZ), "--chan-width-hz", repr(CHAN_WIDTH_HZ),
             "--out", str(tmp)])
        tmp.rename(path)
    return path, max_uv_m


def load_samples(path):
    """(u, v) in wavelengths and w*V (complex128), flattened, plus sum of weights.
    The test data have no flags or invalid values, and every sample lies inside the grid."""
    with h5py.File(path, "r") as f:
        uvw = f["uvw"][...]
        vis = f["vis"][...]
        wgt = f["weight"][...].astype(np.float64)
        freq = f["freq"][...]
        assert "flag" not in f, "benchmark data must not have flags"
    if vis.dtype.names:
        vis = vis[vis.dtype.names[0]] + 1j * vis[vis.dtype.names[1]]
    assert np.all(np.isfinite(vis)) and np.all(wgt > 0)
    scale = freq / C
    u = (uvw[:, 0:1] * scale).ravel()
    v = (uvw[:, 1:2] * scale).ravel()
    w = (uvw[:, 2:3] * scale).ravel()
    wv = (vis.astype(np.complex128) * wgt).ravel()
    return u, v, w, wv, float(wgt.sum())


def direct_ft(path, npix, cell_rad, pixels, wterm, chunk=200_000):
    """I(l, m) = sum w Re[V exp(-2 pi i (u l + v m [+ w (n - 1)]))] / sum w at `pixels` [(x, y)],
    float64, with l = -(x - nx/2) cell, m = (y - ny/2) cell, n = sqrt(1 - l^2 - m^2) (rimager /
    WSClean orientation); the w term only with `wterm` (both tools w-stacking), else 2-D."""
    u, v, w, wv, wsum = load_samples(path)
    px = np.array([p[0] for p in pixels], dtype=np.float64)
    py = np.array([p[1] for p in pixels], dtype=np.float64)
    l = -(px - npix // 2) * cell_rad
    m = (py - npix // 2) * cell_rad
    nm1 = np.sqrt(1.0 - l * l - m * m) - 1.0
    acc = np.zeros(len(pixels))
    for s in range(0, len(u), chunk):
        ph = -2.0 * np.pi * (np.outer(u[s:s + chunk], l) + np.outer(v[s:s + chunk], m))
        if wterm:
            ph += -2.0 * np.pi * np.outer(w[s:s + chunk], nm1)
        # Re[(a + ib)(cos + i sin)] = a cos - b sin
        acc += wv[s:s + chunk].real @ np.cos(ph) - wv[s:s + chunk].imag @ np.sin(ph)
    return acc / wsum


def err_vs_dft(img, pixels, ref):
    vals = np.array([float(img[y, x]) for x, y in pixels])
    d = vals - ref
    return {"rel_l2": float(np.linalg.norm(d) / np.linalg.norm(ref)),
            "max_abs_over_max_ref": float(np.max(np.abs(d)) / np.max(np.abs(ref)))}


def read_image(path):
    with h5py.File(path, "r") as f:
        return f["image"][...].astype(np.float64), dict(f.attrs)


def run_ducc0(a, vis_path, work, eps, tag, threads):
    out = work / f"ducc0_{tag}.h5"
    cmd = [sys.executable, str(HERE / "ducc0_reference.py"), str(vis_path), "--nx", str(a.npix), "--ny", str(a.npix),
           "--cell-arcsec", repr(a.cell_arcsec), "--epsilon", repr(eps), "--nthreads", str(threads), "--out", str(out)]
    if a.wstack:
        cmd.append("--do-wgridding")
    best = None
    for _ in range(a.repeat):
        run(cmd)
        img, attrs = read_image(out)
        s = float(attrs["seconds_gridding"])
        best = s if best is None else min(best, s)
    return {"seconds": best, "seconds_incl_read": None, "nvis": int(attrs["nvis"]),
            "precision": str(attrs["precision"]), "image": img, "command": shlex.join(cmd),
            "ducc0_version": str(attrs["ducc0_version"]), "threads": threads}


def stage(metrics, name):
    for s in metrics["stages"]:
        if s["stage"] == name:
            return float(s["max_s"])
    return 0.0


def run_rimager(a, vis_path, work, eps, prec, tag, threads):
    prefix = work / f"rimager_{tag}"
    cfg = work / f"rimager_{tag}.toml"
    cfg.write_text(
        "# written by scripts/bench_vs_ducc0.py\n"
        "[input]\n"
        'source = "file"\n'
        f"path = {json.dumps(str(vis_path))}\n"
        + (f"chunk_rows = {a.chunk_rows}\n" if a.chunk_rows else "") +
        "\n[image]\n"
        f"nx = {a.npix}\n"
        f"ny = {a.npix}\n"
        f"cell_arcsec = {a.cell_arcsec!r}\n"
        f"epsilon = {eps!r}\n"
        f'precision = "{prec}"\n'
        f"threads = {threads}\n"
        f"wstacking = {'true' if a.wstack else 'false'}\n"
        f"output = {json.dumps(str(prefix))}\n"
        "psf = false\n")
    metrics_path = work / f"rimager_{tag}_metrics.json"
    cmd = [str(a.rimager), "image", "--config", str(cfg), "--threads", str(threads), "--metrics", str(metrics_path)]
    best = None
    for _ in range(a.repeat):
        if metrics_path.exists():
            metrics_path.unlink()
        run(cmd)
        with open(metrics_path) as f:
            m = json.load(f)
        if best is None or m["imaging_wall_s"] < best["imaging_wall_s"]:
            best = m
    m = best
    in_mem = stage(m, "grid") + stage(m, "fft") + stage(m, "correct")
    img, _ = read_image(Path(str(prefix) + ".h5"))
    rss = m.get("peak_rss_bytes_per_rank") or [None]
    return {"seconds": in_mem, "seconds_incl_read": float(m["imaging_wall_s"]), "nvis": int(m["vis_total"]),
            "precision": prec, "image": img, "command": f"{shlex.join(cmd)}  # config: {cfg.name}",
            "config_toml": cfg.read_text(), "metrics": m, "threads": int(m.get("threads_per_rank", 1)),
            "peak_rss_bytes": rss[0]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nrow", type=int, default=1_250_000)
    p.add_argument("--nchan", type=int, default=8)
    p.add_argument("--npix", type=int, default=4096)
    p.add_argument("--cell-arcsec", type=float, default=1.0)
    p.add_argument("--uv-fill", type=float, default=0.9,
                   help="max |uv| * cell / 0.5 at the highest frequency (default 0.9)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--cases", default=DEFAULT_CASES,
                   help=f"comma-separated EPS:PRECISION (default {DEFAULT_CASES}); ducc0 picks its "
                        "precision from EPS like scripts/ducc0_reference.py (double iff EPS <= 1.01e-5)")
    p.add_argument("--threads", default="1",
                   help="comma-separated thread counts, each run by both tools (default 1)")
    p.add_argument("--wstack", action="store_true",
                   help="w-stacking: ducc0 do_wgridding=True, rimager wstacking = true, DFT with the w term")
    p.add_argument("--max-w-m", type=float, default=100.0, help="|w| bound of the data, metres (default 100)")
    p.add_argument("--ndft", type=int, default=64, help="pixels checked against the direct FT")
    p.add_argument("--repeat", type=int, default=1, help="runs per tool and case; the fastest is kept")
    p.add_argument("--work-dir", default=str(REPO / "out" / "bench"))
    p.add_argument("--results-dir", default=str(REPO / "benchmarks" / "results"))
    p.add_argument("--tag", default=None, help="results file name stem (default from the sizes)")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    p.add_argument("--rimager", default=str(target / "release" / "rimager"),
                   help="rimager binary (default $CARGO_TARGET_DIR/release/rimager, else "
                        "target/release/rimager; build with cargo build --release)")
    p.add_argument("--chunk-rows", type=int, default=None,
                   help="rimager input.chunk_rows (default: rimager's own default)")
    p.add_argument("--skip-rimager", action="store_true", help="ducc0 only (to test the script)")
    p.add_argument("--quick", action="store_true", help="smoke test: 25000 rows x 8 chan (200k vis), 1024^2")
    a = p.parse_args()
    if a.quick:
        a.nrow, a.nchan, a.npix = 25_000, 8, 1024
    argv = shlex.join([sys.executable, *sys.argv])
    cases = parse_cases(a.cases)
    thread_counts = [int(t) for t in a.threads.split(",") if t.strip()]
    work = Path(a.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    results_dir = Path(a.results_dir)
    nvis_nominal = a.nrow * a.nchan
    tag = a.tag or (f"vs_ducc0_{nvis_nominal // 1000}kvis_{a.npix}px" + ("_wstack" if a.wstack else "")
                    + ("_quick" if a.quick else ""))
    if not a.skip_rimager and not Path(a.rimager).is_file():
        sys.exit(f"rimager binary {a.rimager} not found: run `cargo build --release` or pass --rimager")

    t0 = time.perf_counter()
    vis_path, max_uv_m = make_data(a, work)
    cell_rad = math.radians(a.cell_arcsec / 3600.0)

    rng = np.random.default_rng(a.seed + 1)
    pixels = [(a.npix // 2, a.npix // 2)]  # the phase centre, then random pixels
    pixels += [(int(x), int(y)) for x, y in rng.integers(0, a.npix, size=(a.ndft - 1, 2))]
    dft_cache = work / (f"dft_{vis_path.stem}_{a.npix}px_cell{a.cell_arcsec!r}_n{a.ndft}"
                        + ("_wterm" if a.wstack else "") + ".npy")
    if dft_cache.exists():
        ref = np.load(dft_cache)
        log(f"reusing direct FT {dft_cache}")
    else:
        t = time.perf_counter()
        ref = direct_ft(vis_path, a.npix, cell_rad, pixels, a.wstack)
        np.save(dft_cache, ref)
        log(f"direct FT at {len(pixels)} pixels: {time.perf_counter() - t:.1f} s")

    mach = machine()
    commit = git_commit()
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    rows = []
    for (eps, prec), nthr in [(c, t) for c in cases for t in thread_counts]:
        ctag = f"{vis_path.stem}_{a.npix}px_eps{eps_label(eps)}_{prec}_t{nthr}" + ("_w" if a.wstack else "")
        res = {"ducc0": run_ducc0(a, vis_path, work, eps, ctag, nthr)}
        if not a.skip_rimager:
            res["rimager"] = run_rimager(a, vis_path, work, eps, prec, ctag, nthr)
        ducc_img = res["ducc0"]["image"]
        for tool, r in res.items():
            threads = r.get("threads", 1)
            e = err_vs_dft(r["image"], pixels, ref)
            row = {
                "tool": tool, "case": f"eps{eps_label(eps)} {prec}", "epsilon": eps,
                "precision": r["precision"], "npix": a.npix, "cell_arcsec": a.cell_arcsec,
                "nvis": r["nvis"], "threads": threads,
                "seconds": r["seconds"],
                "vis_per_s_per_thread": r["nvis"] / r["seconds"] / threads,
                "seconds_incl_read": r["seconds_incl_read"],
                "vis_per_s_per_thread_incl_read": (r["nvis"] / r["seconds_incl_read"] / threads
                                                   if r["seconds_incl_read"] else None),
                "peak_rss_bytes": r.get("peak_rss_bytes"),
                "wstack": a.wstack,
                "err_vs_dft_rel_l2": e["rel_l2"],
                "err_vs_dft_max_abs_over_max": e["max_abs_over_max_ref"],
                "rel_l2_vs_ducc0": (float(np.linalg.norm(r["image"] - ducc_img) / np.linalg.norm(ducc_img))
                                    if tool != "ducc0" else 0.0),
                "cpu_model": mach["cpu_model"], "cores": mach["cores"],
                "ducc0_version": res["ducc0"]["ducc0_version"], "rimager_commit": commit,
                "date": date, "command": r["command"],
            }
            rows.append(row)
            if tool == "rimager":
                row["rimager_stages_max_s"] = {s["stage"]: s["max_s"] for s in r["metrics"]["stages"]}
        # Large images are not kept around between cases.
        for r in res.values():
            r.pop("image")

    results_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "benchmark": "rimager vs ducc0.wgridder.vis2dirty, dirty image, same thread count each"
                     + (", w-stacking" if a.wstack else ", 2-D"),
        "script_command": argv, "date": date, "machine": mach, "rimager_commit": commit,
        "data": {"file": vis_path.name, "nrow": a.nrow, "nchan": a.nchan, "nvis": nvis_nominal,
                 "max_uv_m": max_uv_m, "max_w_m": a.max_w_m, "uv_fill": a.uv_fill, "seed": a.seed,
                 "freq_centre_hz": FREQ_CENTRE_HZ, "chan_width_hz": CHAN_WIDTH_HZ},
        "image": {"npix": a.npix, "cell_arcsec": a.cell_arcsec},
        "dft_check": {"pixels": len(pixels), "seed": a.seed + 1,
                      "definition": "sum w Re[V exp(-2 pi i (u l + v m" + (" + w (n - 1)" if a.wstack else "")
                                    + "))] / sum w, float64 numpy"},
        "timing": {"ducc0": "vis2dirty call only (data in memory)",
                   "rimager": "seconds = grid+fft+correct stages (data in memory); "
                              "seconds_incl_read = imaging_wall_s (read+grid+reduce+fft+correct)"},
        "repeat": a.repeat,
        "rimager_chunk_rows": a.chunk_rows or "rimager default",
        "rows": rows,
    }
    (results_dir / f"{tag}.json").write_text(json.dumps(summary, indent=2) + "\n")
    fields = [k for k in rows[0].keys() if k != "rimager_stages_max_s"]
    with open(results_dir / f"{tag}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)

    log("")
    log(f"{nvis_nominal} vis, {a.npix}x{a.npix}, cell {a.cell_arcsec}\"" + (", w-stacking" if a.wstack else "")
        + f", {mach['cpu_model']} ({mach['simd_flags']})")
    log(f"{'tool':<8} {'case':<16} {'thr':>4} {'seconds':>9} {'vis/s/thr':>10} {'incl.read':>10} {'vis/s/thr':>10} "
        f"{'err vs DFT':>11} {'vs ducc0':>10}")
    for r in rows:
        ir = r["seconds_incl_read"]
        log(f"{r['tool']:<8} {r['case']:<16} {r['threads']:>4} {r['seconds']:>9.3f} {r['vis_per_s_per_thread']:>10.3e} "
            f"{(f'{ir:.3f}' if ir else '-'):>10} "
            f"{(format(r['vis_per_s_per_thread_incl_read'], '.3e') if ir else '-'):>10} "
            f"{r['err_vs_dft_rel_l2']:>11.2e} {r['rel_l2_vs_ducc0']:>10.2e}")
    for (eps, prec), nthr in [(c, t) for c in cases for t in thread_counts]:
        case = f"eps{eps_label(eps)} {prec}"
        d = [r for r in rows if r["case"] == case and r["tool"] == "ducc0" and r["threads"] == nthr]
        m = [r for r in rows if r["case"] == case and r["tool"] == "rimager" and r["threads"] == nthr]
        if d and m:
            st = m[0].get("rimager_stages_max_s", {})
            log(f"{case} x{nthr}: rimager/ducc0 throughput ratio {d[0]['seconds'] / m[0]['seconds']:.3f} "
                f"(in memory), {d[0]['seconds'] / m[0]['seconds_incl_read']:.3f} (incl. read); rimager grid "
                f"{st.get('grid', 0):.3f} s (sort {st.get('cpu_sort', 0):.3f}, spread {st.get('cpu_spread', 0):.3f}), "
                f"fft {st.get('fft', 0):.3f} s, read not hidden {st.get('read', 0):.3f} s of {st.get('read_io', 0):.3f} s")
    log(f"wrote {results_dir / (tag + '.json')} and .csv  (total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
