#!/usr/bin/env bash
# Fresh machine → the default imaging job:  ./run-default.sh
#
# 1. ./setup.sh (system packages, Rust, Python modules, release build; idempotent);
# 2. rimager simulate  --config configs/default.toml   → data/default_vis.h5
# 3. mpirun -n 2 rimager image --config configs/default.toml --metrics out/default-metrics.json
#                                                      → out/default.h5, out/default.fits,
#                                                        out/default-psf.fits, out/default.png,
#                                                        out/default-psf.png, metrics JSON
# 4. rimager verify (image vs. the exact direct Fourier transform; fails if above threshold)
# 5. rimager info out/default.h5
# and checks that every output exists; any failure stops the script with a non-zero status.
#
# Environment: NP (MPI ranks, default 2), CONFIG (default configs/default.toml),
# MPIRUN (default mpirun), MPIRUN_ARGS (extra mpirun arguments).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

die() { printf '\nrun-default: FAILED: %s\n' "$*" >&2; exit 1; }
step() { printf '\n== run-default: %s\n' "$*" >&2; }
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

./setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

RIMAGER="${CARGO_TARGET_DIR:-target}/release/rimager"
CONFIG=${CONFIG:-configs/default.toml}
NP=${NP:-2}
MPIRUN=${MPIRUN:-mpirun}
read -r -a mpirun_args <<< "${MPIRUN_ARGS:-}"
[ -x "$RIMAGER" ] || die "$RIMAGER was not built"

# OpenMPI refuses to run as root unless told to; only set this when we are root.
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# OpenMPI allows one rank per core; on a machine with fewer cores than ranks, oversubscribe.
if [ "$(nproc)" -lt "$NP" ]; then mpirun_args+=(--oversubscribe); fi

step "$RIMAGER simulate --config $CONFIG"
"$RIMAGER" simulate --config "$CONFIG"
[ -s data/default_vis.h5 ] || die "data/default_vis.h5 was not written"

step "$MPIRUN -n $NP ${mpirun_args[*]} $RIMAGER image --config $CONFIG --metrics out/default-metrics.json"
mkdir -p out
"$MPIRUN" -n "$NP" "${mpirun_args[@]}" "$RIMAGER" image --config "$CONFIG" \
    --metrics out/default-metrics.json
for f in out/default.h5 out/default.fits out/default-psf.fits out/default.png out/default-psf.png out/default-metrics.json; do
    [ -s "$f" ] || die "$f was not written"
done

step "$RIMAGER verify --config $CONFIG --image out/default.h5"
"$RIMAGER" verify --config "$CONFIG" --image out/default.h5

step "$RIMAGER info out/default.h5"
"$RIMAGER" info out/default.h5

step "done: data/default_vis.h5, out/default.h5, out/default.fits, out/default-psf.fits, out/default-metrics.json"
