#!/bin/bash
# Device run of the merged main (static build in .devbin/: rimager and the gpu_accuracy test binary, .whl/ducc0 wheel carried).
# GPU accuracy tests of the merged main (device-built records with the finite-w and weight-bound rule), then the CPU node benchmark.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
mkdir -p /work/target-static/release && cp .devbin/rimager /work/target-static/release/rimager
mkdir -p /work && ln -sfn "$PWD" /work/main 2>/dev/null
( .devbin/gpu_accuracy --test-threads 1 2>&1 | grep -E "^test |test result|GPU vs|panicked" ) | tee "$OUT/gpu-accuracy.txt" | tail -20
bash benchmarks/cpu-device-run-node.sh fold 2>&1 | tee "$OUT/log-fold.txt" | grep -vE "^\s+\| (read |write|reduce|read_io|load|0\.|[0-9]+ vis|20[0-9][0-9]-)" | tail -45
