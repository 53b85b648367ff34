#!/usr/bin/env python3
"""ducc0 reference dirty image / PSF for rimager, in rimager's image orientation.

  python3 scripts/ducc0_reference.py VIS.h5 --nx N --ny N --cell-arcsec C \
      --epsilon E --nthreads T --out REF.h5 [--do-wgridding] [--psf] \
      [--convention {wsclean,textbook}]

Output REF.h5: /image float32 [ny, nx] (row 0 = south, column 0 = east, phase
centre at pixel (nx/2, ny/2)); attrs seconds_gridding (vis2dirty call only,
time.perf_counter), nvis (samples used), epsilon, nthreads, plus sum_weights,
convention, do_wgridding, psf, nx, ny, cell_arcsec, precision.

The ducc0 call (ducc0 >= 0.35 keyword API; verified with 0.42):
    d = ducc0.wgridder.vis2dirty(uvw=uvw, freq=freq_ascending, vis=vis, wgt=wgt,
            mask=valid, npix_x=nx, npix_y=ny, pixsize_x=cell, pixsize_y=cell,
            epsilon=E, do_wgridding=W, nthreads=T, divide_by_n=False,
            flip_v=True)                              # --convention wsclean (default)
    image = (d.T / sum(w_used)).astype(float32)       # d has shape (nx, ny)

Why (details and evidence in docs/conventions.md):
  * WSClean (wgridder/wgriddinggridder_simple.cpp) allocates the ducc dirty
    image as {width, height}, passes pixelSizeX as pixsize_x, pixelSizeY as
    pixsize_y, negate_v=true (== python flip_v=True), divide_by_n=false, and
    copies img[i*height + j] -> image[i + j*width], i.e. image[y][x] = d[x][y]
    (numpy: d.T).  It then multiplies by 1/sum(weights).
  * Verified numerically (scripts/verify_ducc0_orientation.py, rel. L2 error
    ~1e-11 vs a direct DFT) that this equals
        sum_k w_k Re[V_k exp(-2 pi i (u_k l + v_k m + w_k (n-1)))] / sum_k w_k
    on the grid l = -(x - nx/2) cell, m = (y - ny/2) cell -- which is also
    exactly WSClean's own direct-FT gridder (gridding/directmsgridder.cpp).
  * NOTE the sign: the original rimager brief wrote exp(+2 pi i ...).  That
    formula is obtained with --convention textbook, i.e. flip_u=True,
    flip_w=True (and flip_v=False), still followed by .T.  It is the
    point-reflection (l,m) -> (-l,-m) of WSClean's image.
  * ducc0 asserts ascending channel frequencies, so channels are sorted
    (WSClean does the same with negative strides for descending bands).
  * ducc0 does not divide by the sum of weights; we do (natural weighting,
    WSClean normalisation).  divide_by_n=False as in WSClean.
  * Precision: complex64/float32 when epsilon > 1.01e-5, else complex128
    (mirrors WSClean, which uses the double-precision gridder for
    accuracy <= 1.01e-5; ducc0 rejects epsilon <= 1e-5 in single precision).

Samples are dropped (exactly like the Rust loader) if flagged, if vis or
weight is non-finite, or if weight <= 0; rows with non-finite uvw are dropped
too.  Dropped samples are excluded via ducc0's mask and have zero weight.
With --psf all used visibilities are replaced by 1+0j.
"""
import argparse
import sys
import time

import h5py
import numpy as np
import ducc0


def load(path):
    with h5py.File(path, "r") as f:
        uvw = np.asarray(f["uvw"][...], dtype=np.float64)
        vis = np.asarray(f["vis"][...])
        if vis.dtype.names:  # compound without h5py auto-complex mapping
            vis = vis[vis.dtype.names[0]] + 1j * vis[vis.dtype.names[1]]
        vis = vis.astype(np.complex128)
        weight = np.asarray(f["weight"][...], dtype=np.float64)
        freq = np.asarray(f["freq"][...], dtype=np.float64)
        flag = np.asarray(f["flag"][...]).astype(bool) if "flag" in f else None
    nrow, nchan = vis.shape
    assert uvw.shape == (nrow, 3), uvw.shape
    assert weight.shape == (nrow, nchan) and freq.shape == (nchan,)
    if flag is not None:
        assert flag.shape == (nrow, nchan), flag.shape
    return uvw, vis, weight, freq, flag


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vis")
    p.add_argument("--nx", type=int, required=True)
    p.add_argument("--ny", type=int, required=True)
    p.add_argument("--cell-arcsec", type=float, required=True)
    p.add_argument("--epsilon", type=float, default=1e-4)
    p.add_argument("--nthreads", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--do-wgridding", action="store_true")
    p.add_argument("--psf", action="store_true", help="image with all visibilities set to 1")
    p.add_argument("--convention", choices=["wsclean", "textbook"], default="wsclean",
                   help="wsclean: exp(-2 pi i ...) as WSClean computes (default); "
                        "textbook: exp(+2 pi i ...) as written in the original brief")
    a = p.parse_args()
    if a.nx % 2 or a.ny % 2 or a.nx < 32 or a.ny < 32:
        sys.exit("ducc0 requires even image sizes >= 32")

    uvw, vis, weight, freq, flag = load(a.vis)

    # ducc0 requires ascending frequencies: reorder channels
    order = np.argsort(freq, kind="stable")
    freq, vis, weight = freq[order], vis[:, order], weight[:, order]
    if flag is not None:
        flag = flag[:, order]

    valid = np.isfinite(vis.real) & np.isfinite(vis.imag) & np.isfinite(weight) & (weight > 0)
    valid &= np.all(np.isfinite(uvw), axis=1)[:, None]
    if flag is not None:
        valid &= ~flag
    uvw = np.where(np.isfinite(uvw), uvw, 0.0)
    nvis = int(valid.sum())
    wgt = np.where(valid, weight, 0.0)
    wsum = float(wgt.sum())
    if a.psf:
        vis = np.where(valid, 1.0 + 0.0j, 0.0j)
    else:
        vis = np.where(valid, vis, 0.0j)

    double = a.epsilon <= 1.01e-5
    cdt, rdt = (np.complex128, np.float64) if double else (np.complex64, np.float32)
    vis = np.ascontiguousarray(vis, dtype=cdt)
    wgt = np.ascontiguousarray(wgt, dtype=rdt)
    mask = np.ascontiguousarray(valid, dtype=np.uint8)
    cell = np.deg2rad(a.cell_arcsec / 3600.0)
    flips = (dict(flip_u=False, flip_v=True, flip_w=False) if a.convention == "wsclean"
             else dict(flip_u=True, flip_v=False, flip_w=True))

    t0 = time.perf_counter()
    dirty = ducc0.wgridder.vis2dirty(
        uvw=uvw, freq=freq, vis=vis, wgt=wgt, mask=mask,
        npix_x=a.nx, npix_y=a.ny, pixsize_x=cell, pixsize_y=cell,
        epsilon=a.epsilon, do_wgridding=a.do_wgridding, nthreads=a.nthreads,
        divide_by_n=False, **flips)
    seconds = time.perf_counter() - t0

    image = dirty.T / wsum if wsum > 0 else np.zeros((a.ny, a.nx))
    image = np.ascontiguousarray(image, dtype=np.float32)
    assert image.shape == (a.ny, a.nx)

    with h5py.File(a.out, "w") as f:
        f.create_dataset("image", data=image)
        f.attrs["seconds_gridding"] = seconds
        f.attrs["nvis"] = nvis
        f.attrs["epsilon"] = a.epsilon
        f.attrs["nthreads"] = a.nthreads
        f.attrs["sum_weights"] = wsum
        f.attrs["convention"] = a.convention
        f.attrs["do_wgridding"] = a.do_wgridding
        f.attrs["psf"] = a.psf
        f.attrs["nx"] = a.nx
        f.attrs["ny"] = a.ny
        f.attrs["cell_arcsec"] = a.cell_arcsec
        f.attrs["precision"] = "double" if double else "single"
        f.attrs["ducc0_version"] = ducc0.__version__
    print(f"{a.out}: image[{a.ny},{a.nx}] nvis={nvis} sum_w={wsum:.6g} "
          f"vis2dirty {seconds:.4f} s, peak={image.max():.6g} at (y,x)="
          f"{tuple(int(i) for i in np.unravel_index(np.argmax(image), image.shape))}")


if __name__ == "__main__":
    main()
