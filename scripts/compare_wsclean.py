#!/usr/bin/env python3
"""Image a real observation with rimager and with WSClean (natural, uniform, Briggs 0) and
report how far apart the dirty images and PSFs are.

By default the observation is the VLA file `day2_TDEM0003_10s_norx_1src_1spw.uvfits` (36 GHz,
27 antennas, 1360 rows x 64 channels, calibrator J1008+0730) that pyuvdata 2.4.5 ships as test
data: the script fetches that wheel with `pip download` (PyPI) and extracts the file. Give
--input to use your own observation (anything scripts/convert_uvdata.py reads).

For each weighting it runs
  rimager image --wstacking true (float64, epsilon 1e-6; w-stacking, full w-term)
  rimager image                   (the same, 2-D: w ignored)
  wsclean -use-wgridder -weighting-rank-filter 0   (ducc w-gridder, full w-correction,
                                                    weights exactly as defined: the comparison)
  wsclean -use-wgridder                            (the same with WSClean's default weighting
                                                    rank filter, level 3, size 16)
with -padding 1 (WSClean's weight-density grid then has the image's size, as rimager's),
-no-small-inversion, -pol I, -make-psf, and independent references: ducc0's gridder
(epsilon 1e-10) with and without the w-term, with WSClean's weights recomputed here in numpy,
without and with WSClean's rank filter (emulated here, `rank_filter`).

WSClean's rank filter (structures/imageweights.cpp, ImageWeights::RankFilter, applied by
io/imageweightcache.h after FinishGridding; on by default, `-weighting-rank-filter 3`,
`-weighting-rank-filter-size 16`): every non-zero cell of the weight grid (after 1/W_k for
uniform, 1/(1 + W_k s^2) for Briggs) that exceeds 3 x the mean of the non-zero cells in the
window [x-8, x+8) x [y-8, y+8) (clipped to the half-plane grid) is set to 3 x that mean.

Needs: wsclean (Debian: apt-get install wsclean), numpy, h5py, astropy, ducc0, pyuvdata,
python-casacore, and a built rimager (cargo build --release).

Usage:
    python3 scripts/compare_wsclean.py [--input FILE] [--workdir out/real-data]
        [--size 256] [--cell-arcsec 0.5] [--results benchmarks/results/real-data-wsclean]
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import convert_uvdata  # noqa: E402

SAMPLE = "day2_TDEM0003_10s_norx_1src_1spw.uvfits"
SAMPLE_WHEEL = "pyuvdata==2.4.5"
C = 299792458.0
WEIGHTINGS = [("natural", None), ("uniform", None), ("briggs", 0.0)]


def run(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {' '.join(map(str, cmd))}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def fetch_sample(workdir):
    path = os.path.join(workdir, SAMPLE)
    if os.path.exists(path):
        return path
    wheels = os.path.join(workdir, "wheel")
    os.makedirs(wheels, exist_ok=True)
    if not glob.glob(os.path.join(wheels, "pyuvdata-2.4.5-*.whl")):
        run([sys.executable, "-m", "pip", "download", SAMPLE_WHEEL, "--no-deps", "-d", wheels])
    whl = glob.glob(os.path.join(wheels, "pyuvdata-2.4.5-*.whl"))[0]
    with zipfile.ZipFile(whl) as z, open(path, "wb") as out:
        out.write(z.read(f"pyuvdata/data/{SAMPLE}"))
    return path


def read_fits(path):
    from astropy.io import fits

    with fits.open(path) as h:
        return np.asarray(h[0].data, dtype=np.float64).reshape(h[0].data.shape[-2:])


def wsclean_weights(uvw_m, freq, weight, flag, n, cell, mode, robust, rank_filter_level=0.0,
                    rank_filter_size=16):
    """WSClean's imaging weights (structures/imageweights.{h,cpp}), padding 1; with
    rank_filter_level >= 1 also WSClean's rank filter (its default: 3, size 16)."""
    u = uvw_m[:, 0:1] * freq[None, :] / C
    v = uvw_m[:, 1:2] * freq[None, :] / C
    w = np.where(flag, 0.0, weight).astype(np.float64)
    fold = v < 0
    u = np.where(fold, -u, u)
    v = np.where(fold, -v, v)
    x = np.floor(u * n * cell + n / 2).astype(np.int64)
    y = np.floor(v * n * cell).astype(np.int64)
    inside = (x >= 0) & (x < n) & (y >= 0) & (y < n // 2) & (w > 0)
    idx = np.where(inside, y * n + x, 0)
    grid = np.bincount(idx[inside], weights=w[inside], minlength=n * (n // 2))
    if mode == "natural":
        fac = np.ones_like(grid)
    elif mode == "uniform":
        fac = np.where(grid != 0, 1.0 / np.where(grid != 0, grid, 1.0), 0.0)
    else:
        avg = (grid**2).sum() / grid.sum()
        s2 = (5.0 * 10 ** (-robust)) ** 2 / avg
        fac = 1.0 / (1.0 + grid * s2)
    if rank_filter_level >= 1.0:
        fac = rank_filter(fac.reshape(n // 2, n), rank_filter_level, rank_filter_size).ravel()
    return np.where(inside, w * fac[idx], 0.0)


def rank_filter(grid, level, size):
    """WSClean 3.1's ImageWeights::RankFilter / windowMean, on the (n/2, n) half-plane grid of
    per-cell weight factors: a non-zero cell above level x the mean of the non-zero cells in
    [x - size/2, x + size/2) x [y - size/2, y + size/2) (clipped) is set to level x that mean.
    The means are taken over the unfiltered grid."""
    h, wdt = grid.shape
    d = size // 2
    out = grid.copy()
    for y, x in zip(*np.nonzero(grid)):
        win = grid[max(y - d, 0):min(y + d, h), max(x - d, 0):min(x + d, wdt)]
        mean = win[win != 0].mean()
        if grid[y, x] > mean * level:
            out[y, x] = mean * level
    return out


def ducc_reference(h5path, n, cell, mode, robust, wgridding, rank_filter_level):
    """Dirty image and PSF from ducc0's gridder (2-D or with the w-term, not divided by n, as
    WSClean and rimager) with WSClean's weights, in the rimager/WSClean orientation (see
    docs/conventions.md)."""
    import ducc0
    import h5py

    with h5py.File(h5path) as f:
        uvw = f["uvw"][:]
        vis = f["vis"][:].astype(np.complex128)
        wt = f["weight"][:]
        flag = f["flag"][:].astype(bool)
        freq = f["freq"][:]
    # rimager drops samples beyond the grid (|u| or |v| x cell >= 1/2), WSClean's weights too.
    iw = wsclean_weights(uvw, freq, wt, flag | ~np.isfinite(vis), n, cell, mode, robust,
                         rank_filter_level)
    out = []
    for data in (vis, np.ones_like(vis)):
        d = ducc0.wgridder.experimental.vis2dirty(
            uvw=uvw, freq=freq, vis=data, wgt=iw, npix_x=n, npix_y=n,
            pixsize_x=cell, pixsize_y=cell, epsilon=1e-10, do_wgridding=wgridding, divide_by_n=False,
            flip_v=True, nthreads=2,
        )
        out.append(d.T / iw.sum())
    return out


def compare(a, b):
    return dict(
        max_abs_diff_rel_peak=float(np.max(np.abs(a - b)) / np.max(np.abs(b))),
        rel_l2=float(np.linalg.norm(a - b) / np.linalg.norm(b)),
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", help="observation to use (default: the pyuvdata VLA sample)")
    p.add_argument("--workdir", default=os.path.join(ROOT, "out", "real-data"))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--cell-arcsec", type=float, default=0.5)
    p.add_argument("--rimager", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "rimager"))
    p.add_argument("--results", default=os.path.join(ROOT, "benchmarks", "results", "real-data-wsclean"))
    a = p.parse_args()
    if a.size % 4:
        sys.exit("--size must be a multiple of 4 (WSClean's wgridder rounds up otherwise)")
    for tool in ("wsclean", a.rimager):
        if not shutil.which(tool) and not os.path.exists(tool):
            sys.exit(f"{tool} not found (apt-get install wsclean; cargo build --release)")
    os.makedirs(a.workdir, exist_ok=True)
    inp = a.input or fetch_sample(a.workdir)
    h5 = os.path.join(a.workdir, "obs.h5")
    ms = os.path.join(a.workdir, "obs.ms")
    if os.path.exists(ms):
        shutil.rmtree(ms)
    info = convert_uvdata.convert(inp, h5, ms)
    n, cell = a.size, a.cell_arcsec * np.pi / 180 / 3600
    version = next((ln.strip() for ln in run(["wsclean", "-version"]).stdout.splitlines()
                    if ln.strip()), "unknown")
    import ducc0
    import pyuvdata
    from importlib.metadata import version as pkg_version
    results = dict(
        input=os.path.basename(inp), rows=info["nrow"], channels=info["nchan"],
        telescope=info["telescope"], size=n, cell_arcsec=a.cell_arcsec, wsclean=version,
        pyuvdata=pyuvdata.__version__, python_casacore=pkg_version("python-casacore"),
        ducc0=ducc0.__version__,
        rows_out=[],
    )
    for mode, robust in WEIGHTINGS:
        tag = mode if robust is None else f"{mode}{robust:g}"
        ours = {}
        for rname, wst in (("wstack", "true"), ("2d", "false")):
            prefix = os.path.join(a.workdir, f"rimager-{tag}-{rname}")
            cfg = os.path.join(a.workdir, f"{tag}-{rname}.toml")
            with open(cfg, "w") as f:
                f.write(
                    f'[input]\nsource = "file"\npath = "{h5}"\n\n[image]\nnx = {n}\nny = {n}\n'
                    f"cell_arcsec = {a.cell_arcsec}\nepsilon = 1e-6\nprecision = \"double\"\n"
                    f'weighting = "{mode}"\nrobust = {robust or 0.0}\nwstacking = {wst}\n'
                    f'output = "{prefix}"\n'
                )
            cmd = [a.rimager, "image", "--config", cfg]
            run(cmd)
            ours[rname] = (read_fits(prefix + ".fits"), read_fits(prefix + "-psf.fits"),
                           " ".join(map(str, cmd)) + f"  # wstacking = {wst}")
        wargs = ["-weight", mode] + ([str(robust)] if robust is not None else [])
        common = ["-size", str(n), str(n), "-scale", f"{a.cell_arcsec}asec", "-pol", "I",
                  "-padding", "1", "-no-small-inversion", "-make-psf", "-j", "2",
                  "-use-wgridder", "-wgridder-accuracy", "1e-6"] + wargs
        imgs = {}
        for gname, gargs in (("wgridder-norankfilter", ["-weighting-rank-filter", "0"]),
                             ("wgridder-default", [])):
            name = os.path.join(a.workdir, f"wsclean-{tag}-{gname}")
            cmd = ["wsclean", "-name", name] + common + gargs + [ms]
            run(cmd)
            imgs[gname] = (read_fits(name + "-dirty.fits"), read_fits(name + "-psf.fits"), " ".join(cmd))
        refs = {}
        for wg in (True, False):
            for rf in (0.0, 3.0):
                refs[(wg, rf)] = ducc_reference(h5, n, cell, mode, robust, wg, rf)
        row = dict(weighting=tag)
        for rname, (img, psf, rcmd) in ours.items():
            for gname, (wimg, wpsf, wcmd) in imgs.items():
                row[f"rimager_{rname}_vs_wsclean_{gname}"] = dict(
                    image=compare(img, wimg), psf=compare(psf, wpsf), command=rcmd, wsclean_command=wcmd)
            d_img, d_psf = refs[(rname == "wstack", 0.0)]
            row[f"rimager_{rname}_vs_ducc0_{'w' if rname == 'wstack' else '2d'}_same_weights"] = dict(
                image=compare(img, d_img), psf=compare(psf, d_psf))
        for rf, gname in ((0.0, "wgridder-norankfilter"), (3.0, "wgridder-default")):
            d_img, d_psf = refs[(True, rf)]
            wimg, wpsf, _ = imgs[gname]
            row[f"ducc0_w_rankfilter{rf:g}_vs_wsclean_{gname}"] = dict(
                image=compare(d_img, wimg), psf=compare(d_psf, wpsf))
        row["wsclean_default_vs_norankfilter"] = dict(
            image=compare(imgs["wgridder-default"][0], imgs["wgridder-norankfilter"][0]),
            psf=compare(imgs["wgridder-default"][1], imgs["wgridder-norankfilter"][1]))
        row["peak_jy_per_beam"] = float(np.max(np.abs(ours["wstack"][0])))
        results["rows_out"].append(row)
        print(json.dumps(row, indent=1))
    os.makedirs(os.path.dirname(a.results), exist_ok=True)
    with open(a.results + ".json", "w") as f:
        json.dump(results, f, indent=1)
    with open(a.results + ".csv", "w") as f:
        f.write("weighting,what,reference,max_abs_diff_rel_peak,rel_l2\n")
        for row in results["rows_out"]:
            for key, val in row.items():
                if isinstance(val, dict):
                    for what in ("image", "psf"):
                        if what in val:
                            c = val[what]
                            f.write(f"{row['weighting']},{what},{key},{c['max_abs_diff_rel_peak']:.3e},{c['rel_l2']:.3e}\n")
    print(f"wrote {a.results}.json and .csv")


if __name__ == "__main__":
    main()
