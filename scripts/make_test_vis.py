#!/usr/bin/env python3
"""Write a synthetic visibility file in rimager's HDF5 format with h5py.

Format (see docs/conventions.md):
  /uvw    float64   [nrow, 3]  metres (u, v, w), Measurement Set convention
  /vis    complex64 [nrow, nchan]  (h5py complex compound r,i)
  /weight float32   [nrow, nchan]
  /flag   bool or uint8 [nrow, nchan]  (optional, true = ignore)
  /freq   float64   [nchan] Hz (ascending, or descending with --descending-freq)
  root attrs: telescope, phase_centre_ra_deg, phase_centre_dec_deg
  plus, for tests: sim_src_l_rad, sim_src_m_rad, sim_src_flux, sim_convention, seed

Sky model: a few point sources + complex Gaussian noise.  The measurement
equation sign follows WSClean by default (--convention wsclean):
    V = sum_s S_s exp(+2 pi i (u l_s + v m_s + w (n_s - 1)))
so that WSClean (and scripts/ducc0_reference.py) image each source at its
(l_s, m_s) (l east, m north).  --convention textbook uses exp(-2 pi i ...),
i.e. the sign in the original brief; see docs/conventions.md for why the two
differ.  uvw are uniform in a disc of radius --max-uv-m, w uniform in
[-max_w, max_w].  Weights are uniform in [0.5, 1.5].

Example:
  python3 scripts/make_test_vis.py --nrow 20000 --nchan 4 --seed 1 --with-flags --out vis.h5
"""
import argparse

import h5py
import numpy as np

C = 299792458.0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nrow", type=int, default=20000)
    p.add_argument("--nchan", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-uv-m", type=float, default=3000.0, help="radius of the uv disc [m]")
    p.add_argument("--max-w-m", type=float, default=100.0, help="|w| bound [m]")
    p.add_argument("--freq-centre-hz", type=float, default=1.4e9)
    p.add_argument("--chan-width-hz", type=float, default=1.0e6)
    p.add_argument("--descending-freq", action="store_true", help="store /freq in descending order")
    p.add_argument("--with-flags", action="store_true", help="write a /flag dataset (~5%% flagged)")
    p.add_argument("--flag-dtype", choices=["bool", "uint8"], default="bool")
    p.add_argument("--bad-fraction", type=float, default=0.0,
                   help="fraction of samples given NaN vis, Inf/zero/negative weight (tests skipping)")
    p.add_argument("--nsrc", type=int, default=4)
    p.add_argument("--src-radius-arcsec", type=float, default=600.0,
                   help="sources placed uniformly within this radius of the phase centre")
    p.add_argument("--noise", type=float, default=0.1, help="per-component noise sigma (Jy)")
    p.add_argument("--convention", choices=["wsclean", "textbook"], default="wsclean")
    p.add_argument("--out", required=True)
    a = p.parse_args()

    rng = np.random.default_rng(a.seed)
    nrow, nchan = a.nrow, a.nchan

    r = a.max_uv_m * np.sqrt(rng.uniform(0.0, 1.0, nrow))
    th = rng.uniform(0.0, 2 * np.pi, nrow)
    uvw = np.empty((nrow, 3), np.float64)
    uvw[:, 0] = r * np.cos(th)
    uvw[:, 1] = r * np.sin(th)
    uvw[:, 2] = rng.uniform(-a.max_w_m, a.max_w_m, nrow)

    freq = a.freq_centre_hz + (np.arange(nchan) - (nchan - 1) / 2.0) * a.chan_width_hz
    if a.descending_freq:
        freq = freq[::-1].copy()

    rad = np.deg2rad(a.src_radius_arcsec / 3600.0)
    sr = rad * np.sqrt(rng.uniform(0.0, 1.0, a.nsrc))
    sth = rng.uniform(0.0, 2 * np.pi, a.nsrc)
    src_l, src_m = sr * np.cos(sth), sr * np.sin(sth)
    src_flux = rng.uniform(0.5, 2.0, a.nsrc)
    sign = +1.0 if a.convention == "wsclean" else -1.0

    vis = np.empty((nrow, nchan), np.complex64)
    for c in range(nchan):
        uu, vv, ww = (uvw * (freq[c] / C)).T
        acc = np.zeros(nrow, np.complex128)
        for s, l, m in zip(src_flux, src_l, src_m):
            n1 = np.sqrt(1.0 - l * l - m * m) - 1.0
            acc += s * np.exp(sign * 2j * np.pi * (uu * l + vv * m + ww * n1))
        acc += a.noise * (rng.standard_normal(nrow) + 1j * rng.standard_normal(nrow))
        vis[:, c] = acc
    weight = rng.uniform(0.5, 1.5, (nrow, nchan)).astype(np.float32)

    if a.bad_fraction > 0:
        bad = rng.uniform(size=(nrow, nchan)) < a.bad_fraction
        kind = rng.integers(0, 5, size=(nrow, nchan))
        vis[bad & (kind == 0)] = np.complex64(complex(np.nan, 0.0))
        vis[bad & (kind == 1)] = np.complex64(complex(0.0, np.inf))
        weight[bad & (kind == 2)] = np.inf
        weight[bad & (kind == 3)] = 0.0
        weight[bad & (kind == 4)] = -1.0

    with h5py.File(a.out, "w") as f:
        f.create_dataset("uvw", data=uvw)
        f.create_dataset("vis", data=vis)
        f.create_dataset("weight", data=weight)
        f.create_dataset("freq", data=freq)
        if a.with_flags:
            flag = rng.uniform(size=(nrow, nchan)) < 0.05
            f.create_dataset("flag", data=flag if a.flag_dtype == "bool" else flag.astype(np.uint8))
        f.attrs["telescope"] = "SIMULATED"
        f.attrs["phase_centre_ra_deg"] = 201.365
        f.attrs["phase_centre_dec_deg"] = -43.019
        f.attrs["sim_src_l_rad"] = src_l
        f.attrs["sim_src_m_rad"] = src_m
        f.attrs["sim_src_flux"] = src_flux
        f.attrs["sim_convention"] = a.convention
        f.attrs["seed"] = a.seed
    print(f"wrote {a.out}: nrow={nrow} nchan={nchan} freq[0]={freq[0]:.6e} "
          f"flags={'none' if not a.with_flags else a.flag_dtype} nsrc={a.nsrc}")


if __name__ == "__main__":
    main()
