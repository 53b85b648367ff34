#!/usr/bin/env python3
"""Compare the image (and PSF) of two rimager HDF5 image files.

    python3 scripts/compare_h5_images.py OLD.h5 NEW.h5

Prints, for /image and /psf (when both files have it): the relative L2 difference
||new - old|| / ||old||, the largest absolute difference over the peak of |old|, and whether
the arrays are bitwise equal. Exits 1 when the shapes differ.
"""
import sys

import h5py
import numpy as np


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    old, new = (h5py.File(p, "r") for p in sys.argv[1:])
    for name in ("image", "psf"):
        if name not in old or name not in new:
            continue
        a = old[name][()].astype(np.float64)
        b = new[name][()].astype(np.float64)
        if a.shape != b.shape:
            print(f"/{name}: shapes differ {a.shape} vs {b.shape}")
            return 1
        rel = np.linalg.norm(b - a) / np.linalg.norm(a)
        peak = np.abs(b - a).max() / np.abs(a).max()
        print(
            f"/{name} {a.shape}: relative L2 {rel:.3e}, max |diff| / peak {peak:.3e}, "
            f"bitwise equal {bool(np.array_equal(old[name][()], new[name][()]))}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
