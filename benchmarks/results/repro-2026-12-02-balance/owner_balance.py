import json, glob, os, sys
# Per-rank owner gridding (cpu_spread: dirty + PSF owners' slab gridding) and max/min ratio, best repeat by max.
for d in sys.argv[1:]:
    print("==", d)
    best = {}
    for f in sorted(glob.glob(os.path.join(d, "runs", "*.json"))):
        name = os.path.basename(f)[:-5]
        npix, mode, layout, rep = name.split("-")
        if mode == "slab" or layout.startswith("1x"): continue
        m = json.load(open(f)); st = {s["stage"]: s for s in m["stages"]}
        sp = st["cpu_spread"]["per_rank_s"]; ff = st["fft"]["per_rank_s"]; sp = [round(a,3) for a in sp] + ["fft"] + [round(b,3) for b in ff]; sp = sp
        k = (npix, mode, layout)
        g = sp[:sp.index("fft")]
        if k not in best or max(g) < max(best[k][:best[k].index("fft")]): best[k] = sp
    for k, sp in sorted(best.items()):
        g = sp[:sp.index("fft")]
        print(k, "owner grid s per rank:", sp, "grid max/mean %.2f" % (max(g) / (sum(g) / len(g))))
