#!/bin/bash
# H100 after the review clean-up (w-plane sum through the pinned bounce buffers, shared metrics
# tail for w-stacked runs): GPU accuracy tests and verify of a w-stacked GPU image with its metrics.
mkdir -p $OUT
exec > >(tee $OUT/gpu-h100-review.txt) 2>&1
set -x
date -u
export RUST_LOG=info
B=./dev-bin
timeout 200 $B/gpu_accuracy --nocapture --test-threads=1 2>&1 | grep -E "^test |wstack|test result"
C="--config configs/default.toml --source simulate"
mkdir -p /tmp/o
timeout 60 $B/rimager image $C --backend gpu --wstacking true --output /tmp/o/gw --metrics /tmp/o/gw.json 2>&1 | grep -E "gpu_|imaging|GPU stage"
timeout 60 $B/rimager verify $C --image /tmp/o/gw.h5
echo EXIT $?
