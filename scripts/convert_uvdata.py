#!/usr/bin/env python3
"""Convert an interferometric observation into the rimager visibility file (HDF5).

Reads anything pyuvdata reads (Measurement Set, UVFITS, uvh5, MIRIAD, ...) and writes the
format of README.md "Visibility file format" (src/vis/h5.rs):

  /uvw     float64 [nrow, 3]      (u, v, w) in metres, Measurement Set convention
  /vis     complex64 [nrow, nchan] Stokes I
  /weight  float32 [nrow, nchan]
  /flag    uint8 [nrow, nchan]    non-zero = ignore
  /freq    float64 [nchan]        Hz
  root attrs: telescope, phase_centre_ra_deg, phase_centre_dec_deg

Stokes I is formed as WSClean forms it (msproviders/msprovider.cpp, CopyData/CopyWeights):
I = (XX + YY)/2 or (RR + LL)/2, weight = 4 min(w_XX, w_YY) (the same with RR, LL), and the
sample is flagged if either correlation is flagged or not finite. Data already in Stokes I
(pol code 1) are copied. The per-correlation weight is pyuvdata's nsample_array (for a
Measurement Set: WEIGHT_SPECTRUM, else WEIGHT; for UVFITS: the visibility weights).
Autocorrelations are dropped; only one spectral window and one phase centre are supported.

Needs: numpy, h5py, pyuvdata (and python-casacore for Measurement Sets):
    python3 -m pip install pyuvdata python-casacore

Usage:
    python3 scripts/convert_uvdata.py INPUT OUTPUT.h5 [--ms OUT.ms] [--keep-autos]

--ms additionally writes the same data as a Measurement Set (pyuvdata write_ms), e.g. for
imaging it with WSClean (see scripts/compare_wsclean.py).
"""
import argparse
import os
import sys

import numpy as np

# pyuvdata polarisation codes (AIPS memo 117).
POL_I, POL_RR, POL_LL, POL_XX, POL_YY = 1, -1, -2, -5, -6


class ConvertError(Exception):
    pass


def stokes_i(data, flags, weights, pols, path):
    """(vis, weight, flag) of Stokes I from [nblt, nchan, npol] arrays."""
    pols = list(int(p) for p in pols)
    if POL_I in pols:
        k = pols.index(POL_I)
        vis, w, fl = data[:, :, k], weights[:, :, k], flags[:, :, k]
        fl = fl | ~np.isfinite(vis)
        return vis, np.where(fl, 0.0, w), fl
    for a, b, name in ((POL_XX, POL_YY, "XX/YY"), (POL_RR, POL_LL, "RR/LL")):
        if a in pols and b in pols:
            ia, ib = pols.index(a), pols.index(b)
            va, vb = data[:, :, ia], data[:, :, ib]
            fl = flags[:, :, ia] | flags[:, :, ib] | ~np.isfinite(va) | ~np.isfinite(vb)
            vis = 0.5 * (va + vb)
            w = 4.0 * np.minimum(weights[:, :, ia], weights[:, :, ib])
            w = np.where(fl, 0.0, w)
            vis = np.where(fl, 0.0, vis)
            return vis, w, fl
    raise ConvertError(
        f"{path}: field polarization_array = {pols}: cannot form Stokes I "
        "(need I, or XX and YY, or RR and LL)"
    )


def convert(inp, out, ms=None, keep_autos=False):
    try:
        import h5py
        from pyuvdata import UVData
    except ImportError as e:
        raise ConvertError(
            f"{e}: install the optional converter dependencies with "
            "`python3 -m pip install pyuvdata python-casacore h5py`"
        )
    if not os.path.exists(inp):
        raise ConvertError(f"{inp}: no such file or directory")
    uv = UVData()
    try:
        uv.read(inp)
    except Exception as e:  # pyuvdata raises many types for unreadable input
        raise ConvertError(f"{inp}: pyuvdata cannot read it: {type(e).__name__}: {e}")
    if uv.Nspws != 1:
        raise ConvertError(
            f"{inp}: field Nspws = {uv.Nspws}: only one spectral window is supported "
            "(select one first, e.g. UVData.select(spws=...))"
        )
    cat = uv.phase_center_catalog or {}
    if len(cat) != 1:
        raise ConvertError(f"{inp}: field phase_center_catalog has {len(cat)} entries, need exactly 1")
    centre = next(iter(cat.values()))
    if centre.get("cat_type") != "sidereal":
        raise ConvertError(
            f"{inp}: field cat_type = {centre.get('cat_type')!r}: the data must be phased to a "
            "fixed (sidereal) position; use UVData.phase() first"
        )
    if not keep_autos:
        cross = uv.ant_1_array != uv.ant_2_array
        if not cross.any():
            raise ConvertError(f"{inp}: only autocorrelations, nothing to image")
        if not cross.all():
            uv.select(blt_inds=np.nonzero(cross)[0])
    if ms:
        uv.write_ms(ms, clobber=True)
    data = np.asarray(uv.data_array)
    if data.ndim == 4:  # old pyuvdata array shapes [nblt, 1, nchan, npol]
        data = data[:, 0]
        flags = np.asarray(uv.flag_array)[:, 0]
        nsample = np.asarray(uv.nsample_array)[:, 0]
    else:
        flags = np.asarray(uv.flag_array)
        nsample = np.asarray(uv.nsample_array)
    vis, weight, flag = stokes_i(data, flags, nsample, uv.polarization_array, inp)
    freq = np.asarray(uv.freq_array, dtype=np.float64).reshape(-1)
    # pyuvdata's baseline convention is the opposite of the Measurement Set's: its own
    # write_ms stores -uvw_array and the conjugated data. rimager follows the MS (and WSClean),
    # so do the same (the dirty image is the same either way; the files then agree row by row).
    uvw = -np.asarray(uv.uvw_array, dtype=np.float64)
    vis = np.conj(vis)
    if not np.all(np.isfinite(freq)) or np.any(freq <= 0):
        raise ConvertError(f"{inp}: field freq_array has non-positive or non-finite values")
    tmp = out + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("uvw", data=uvw)
        f.create_dataset("vis", data=vis.astype(np.complex64))
        f.create_dataset("weight", data=weight.astype(np.float32))
        f.create_dataset("flag", data=flag.astype(np.uint8))
        f.create_dataset("freq", data=freq)
        tel = getattr(getattr(uv, "telescope", None), "name", None) or getattr(uv, "telescope_name", "")
        f.attrs["telescope"] = str(tel)
        f.attrs["phase_centre_ra_deg"] = float(np.degrees(centre["cat_lon"]))
        f.attrs["phase_centre_dec_deg"] = float(np.degrees(centre["cat_lat"]))
        f.attrs["source_file"] = os.path.basename(inp.rstrip("/"))
    os.replace(tmp, out)
    return dict(nrow=uvw.shape[0], nchan=freq.size, flagged=int(flag.sum()), telescope=str(tel))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="MS, UVFITS, uvh5, MIRIAD ... (anything pyuvdata reads)")
    p.add_argument("output", help="rimager visibility file to write (.h5)")
    p.add_argument("--ms", help="also write the data as this Measurement Set")
    p.add_argument("--keep-autos", action="store_true", help="keep autocorrelations")
    a = p.parse_args()
    try:
        info = convert(a.input, a.output, a.ms, a.keep_autos)
    except ConvertError as e:
        print(f"convert_uvdata: error: {e}", file=sys.stderr)
        sys.exit(1)
    print(
        f"wrote {a.output}: {info['nrow']} rows x {info['nchan']} channels, "
        f"{info['flagged']} flagged samples ({info['telescope']})"
        + (f"; and {a.ms}" if a.ms else "")
    )


if __name__ == "__main__":
    main()
