#!/usr/bin/env bash
# Device run for issue 12 (records built on the device, raw visibilities streamed): on the
# device machine (H200 host), from the repository root, with .devbin-gpue2e/ carried:
#   .devbin-gpue2e/{rimager,gpu_bench,gpu_accuracy}  release builds, --features static-hdf5
#   .devbin-gpue2e/cufinufft/                        copy of ../shared/bench/cufinufft
# 1. the pinned host<->device copy rate (torch), for the floor;
# 2. the GPU accuracy tests (GPU vs DFT, GPU vs CPU, device-built records vs the CPU's rule);
# 3. gpu_bench 1e8 -> 8192^2, float32 eps 1e-4 and float64 eps 1e-5, records built on the
#    device and on the host (the earlier path), same process, medians of 5 timed runs;
# 4. the default job with --backend gpu and its verify;
# 5. cuFINUFFT (methods 2 and 3, uniform disc, float32 tol 1e-4 and float64 tol 1e-5).
set -uo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT" out
B=.devbin-gpue2e
exec > >(tee "$OUT/gpu-h200-e2e.txt") 2>&1
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,pcie.link.gen.max,pcie.link.gen.current,pcie.link.width.current --format=csv
nproc
echo "== pinned copy rate (torch, 1 GiB, median of 5)"
timeout 60 python3 - <<'PY'
import torch, statistics
n = 1 << 30
h = torch.empty(n, dtype=torch.uint8).pin_memory(); d = torch.empty(n, dtype=torch.uint8, device="cuda")
p = torch.empty(n, dtype=torch.uint8)  # pageable
for name, f in [("H2D pinned", lambda: d.copy_(h, non_blocking=True)), ("D2H pinned", lambda: h.copy_(d, non_blocking=True)),
                ("H2D pageable", lambda: d.copy_(p)), ("D2D", lambda: d[: n // 2].copy_(d[n // 2 :]))]:
    ts = []
    for _ in range(6):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); f(); b.record(); torch.cuda.synchronize(); ts.append(a.elapsed_time(b) / 1e3)
    t = statistics.median(ts[1:]); nb = n if name != "D2D" else n  # D2D: n/2 read + n/2 written
    print(f"{name}: {nb / t / 1e9:.1f} GB/s ({t * 1e3:.2f} ms per GiB)")
PY
# The test binaries start the rimager binary from the path it had where it was built, and
# read data/ relative to the crate directory they were built in.
mkdir -p /work/target-static-gpue2e/release && cp "$B/rimager" /work/target-static-gpue2e/release/rimager
mkdir -p /work && ln -sfn "$PWD" /work/wt-gpue2e
echo "== gpu_accuracy"
timeout 150 "$B/gpu_accuracy" --test-threads 1 --nocapture 2>&1 | grep -v "^\s*$"
echo "== gpu_bench 1e8 -> 8192^2"
GPU_BENCH_REPS=6 timeout 240 "$B/gpu_bench" 100000000 8192 | tee "$OUT/gpu_bench.txt"
grep "^CSV," "$OUT/gpu_bench.txt" | sed 's/^CSV,//' > "$OUT/gpu-h200-e2e.csv"
R=$B/rimager
echo "== default job, --backend gpu (1 rank x 16 threads)"
$R simulate --config configs/default.toml 2>&1 | tail -2
start=$(date +%s.%N)
mpirun --oversubscribe --bind-to none -n 1 "$R" image --config configs/default.toml --backend gpu \
    --output out/gpu --metrics "$OUT/default-gpu-metrics.json" 2>&1 | grep -v "^\s*$" | tail -12
echo "wall $(python3 -c "print(f'{$(date +%s.%N) - $start:.3f}')") s (mpirun to exit)"
$R verify --config configs/default.toml --image out/gpu.h5 2>&1 | tail -6
if [ "${CUFI:-1}" = 1 ]; then
    echo "== cuFINUFFT (methods 2, 3; disc)"
    C=/tmp/cufi; rm -rf $C; cp -r "$B/cufinufft" $C; chmod -R u+w $C
    sed -i 's/for m in 1 2 3; do/for m in 3 2; do/; s/for dist in disc square; do/for dist in disc; do/' $C/build-and-run.sh
    timeout 400 bash $C/build-and-run.sh 8192 1e8
fi
echo "== done $(date -u)"
