#!/usr/bin/env python3
"""Runs the issue's reported failure cases against one rimager binary and classifies each:
clean error, exit 0 with a warning, exit 0 silently (wrong or destroyed), panic, hang, output
lost (an input or an earlier output changed). Usage: reliability_before_after.py RIMAGER."""
import hashlib, os, shutil, subprocess, sys, tempfile

import h5py
import numpy as np

RIMAGER = os.path.abspath(sys.argv[1])
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", RAYON_NUM_THREADS="1")


def digest(d):
    out = {}
    for base, _, files in os.walk(d):
        for f in files:
            p = os.path.join(base, f)
            out[p] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


def run(args, timeout=30):
    """Runs `args` (or, when they start with ":", an mpirun MPMD line); None on timeout."""
    cmd = ["mpirun", "--oversubscribe", "-x", "RAYON_NUM_THREADS"] + args[1:] if args[0] == ":" else args
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        _, err = p.communicate(timeout=timeout)
        return p.returncode, err
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        _, err = p.communicate()
        return None, err


def classify(code, err, changed, silent_ok_is_bad):
    if code is None:
        return "hang"
    if "panicked" in err or code == 101 or code == 134:
        return "panic"
    if changed:
        return "output lost"
    if code != 0:
        return "clean error" if "error" in err else "error without message"
    if "WARN" in err and silent_ok_is_bad:
        return "exit 0 with warning"
    return "exit 0 silently" if silent_ok_is_bad else "exit 0 (correct)"


def main():
    d = tempfile.mkdtemp(prefix="relba-")
    cfg = os.path.join(d, "c.toml")
    vis = os.path.join(d, "obs.h5")
    open(cfg, "w").write(
        f'[simulate]\nlayout = "{ROOT}/data/layouts/small_test.csv"\nra_deg = 150.0\ndec_deg = -30.0\n'
        f'ha_start_h = -1.0\nha_end_h = 1.0\nintegration_s = 240.0\nfreq_start_hz = 1.4e9\nfreq_step_hz = 2e7\n'
        f'nchan = 2\nnoise_jy = 0.0\nseed = 7\noutput = "{vis}"\n[[simulate.sources]]\nkind = "point"\nflux_jy = 1.0\n'
        f'l_arcsec = 0.0\nm_arcsec = 0.0\n[input]\nsource = "file"\npath = "{vis}"\nchunk_rows = 200\n'
        f'[image]\nnx = 64\nny = 64\ncell_arcsec = 10.0\nthreads = 1\noutput = "{d}/out/x"\n')
    subprocess.run([RIMAGER, "simulate", "--config", cfg], env=ENV, capture_output=True, check=True)

    def variant(name, edit):
        p = os.path.join(d, name)
        shutil.copy(vis, p)
        with h5py.File(p, "r+") as f:
            edit(f)
        return p

    def nan_w(f):
        u = f["uvw"][...]; u[int(np.argmin(np.hypot(u[:, 0], u[:, 1]))), 2] = np.nan; f["uvw"][...] = u
    def w_huge(f):
        w = f["weight"][...]; w[:] = 3e38; f["weight"][...] = w
    def w_tiny(f):
        w = f["weight"][...]; w[:] = 1e-45; f["weight"][...] = w
    def flags_i8(f):
        fl = np.zeros(f["weight"].shape, np.int8); fl[::2] = -1; f["flag"] = fl
    def outlier(f):
        u = f["uvw"][...]; u[42, 0] = 1e9; f["uvw"][...] = u
    def other_centre(f):
        f.attrs["phase_centre_ra_deg"] = 151.0
    nanw, huge, tiny, i8, outl, other = (variant(n, e) for n, e in [
        ("nanw.h5", nan_w), ("huge.h5", w_huge), ("tiny.h5", w_tiny), ("i8.h5", flags_i8),
        ("outl.h5", outlier), ("other.h5", other_centre)])
    img = lambda *a: [RIMAGER, "image", "--config", cfg, *a]
    subprocess.run(img(), env=ENV, capture_output=True, check=True)
    trunc = os.path.join(d, "trunc.h5")
    open(trunc, "wb").write(open(os.path.join(d, "out/x.h5"), "rb").read()[:20000])
    shutil.copytree(os.path.join(d, "out"), os.path.join(d, "pristine-out"))
    shutil.copy(vis, os.path.join(d, "pristine-obs"))
    cases = [
        ("--input obs.h5 --output obs", img("--output", vis[:-3]), True, None),
        ("--metrics = the image file", img("--metrics", os.path.join(d, "out/x.h5")), True, None),
        ("NaN w with w-stacking", img("--input", nanw, "--wstacking", "true"), False, "nan"),
        ("weights 3e38", img("--input", huge), True, "nan"),
        ("weights 1e-45", img("--input", tiny), True, "psf"),
        ("--nx 1e14", img("--nx", "100000000000000"), True, None),
        ("--nx 4e9 --ny 4e9", img("--nx", "4000000000", "--ny", "4000000000"), True, None),
        ("int8 flags -1", img("--input", i8), False, "flags"),
        ("uvw outlier 1e9 m, cell auto", img("--input", outl, "--cell-arcsec", "auto"), False, "cell"),
        ("input is a directory", img("--input", d), True, None),
        ("--ny 9 (CLI value)", img("--ny", "9"), True, "cli"),
        ("info on a truncated image", [RIMAGER, "info", trunc], True, "trunc"),
        ("verify against other data", [RIMAGER, "verify", "--config", cfg, "--image", os.path.join(d, "out/x.h5"),
                                       "--input", other], True, None),
        ("ranks with different phase centres", [":", "-n", "1", *img(), ":", "-n", "1", *img("--input", other)],
         True, None),
    ]
    counts = {}
    for name, args, fail_expected, check in cases:
        shutil.rmtree(os.path.join(d, "out"))
        shutil.copytree(os.path.join(d, "pristine-out"), os.path.join(d, "out"))
        shutil.copy(os.path.join(d, "pristine-obs"), vis)
        before = digest(d)
        code, err = run(args)
        after = digest(d)
        # Inputs (everything outside out/) must be byte-identical; the image file must stay HDF5.
        changed = any(after.get(p) != h for p, h in before.items() if "/out/" not in p)
        xh5 = os.path.join(d, "out/x.h5")
        changed = changed or not open(xh5, "rb").read(8).startswith(b"\x89HDF")
        verdict = classify(code, err, changed, fail_expected)
        extra = ""
        if code == 0 and check == "nan":
            with h5py.File(os.path.join(d, "out/x.h5")) as f:
                bad = int((~np.isfinite(f["image"][...])).sum())
            extra = f"non-finite pixels {bad}"
            if bad:
                verdict = "exit 0 silently (NaN image)"
            elif "WARN" in err:
                verdict = "exit 0 with warning"
        if code == 0 and check == "psf":
            with h5py.File(os.path.join(d, "out/x.h5")) as f:
                extra = f"psf peak {float(np.nanmax(f['psf'][...])):.4f}"
        if code == 0 and check == "flags":
            with h5py.File(os.path.join(d, "out/x.h5")) as f:
                fl = int(f.attrs["vis_flagged"])
            extra = f"vis_flagged {fl} (expected 868)"
            verdict = "exit 0 (correct)" if fl == 868 else "exit 0 silently (flags ignored)"
        if code == 0 and check == "cell":
            with h5py.File(os.path.join(d, "out/x.h5")) as f:
                c = float(f.attrs["cell_arcsec"])
            extra = f"cell {c:.4g} arcsec"
            verdict = ("exit 0 with warning" if "outlier" in err else "exit 0 (correct)") if c > 1 else \
                "exit 0 silently (cell collapsed)"
        if check == "cli" and code != 0:
            extra = "blamed on the option" if "command-line option" in err else "blamed on the config file"
        if check == "trunc":
            extra = "says truncated" if "truncated" in err else "does not say truncated"
        counts[verdict] = counts.get(verdict, 0) + 1
        line = [l for l in err.splitlines() if "error" in l or "WARN" in l][:1]
        print(f"{name:38s} exit {code!s:5s} {verdict:32s} {extra:30s} {line[0][:110] if line else ''}")
    print("totals:", counts)
    shutil.rmtree(d)


main()
