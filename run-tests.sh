#!/usr/bin/env bash
# Fresh machine → full test suite:  ./run-tests.sh
#
# 1. ./setup.sh (system packages, Rust, Python modules, release build; idempotent);
# 2. RIMAGER_REQUIRE_PYTHON=1 cargo test --release
#    - release mode keeps the direct-Fourier-transform reference tests fast;
#    - RIMAGER_REQUIRE_PYTHON=1 makes the Python interop tests (h5py, astropy, ducc0) FAIL
#      instead of skip when a module is missing, so a green run means they really ran.
# Extra arguments go to `cargo test` (e.g. ./run-tests.sh gridding_accuracy).
# Lint (clippy, rustfmt) is not part of this command; .ci/run adds it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

./setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

# OpenMPI refuses to run as root unless told to; only set this when we are root.
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

echo "== run-tests: RIMAGER_REQUIRE_PYTHON=1 cargo test --release $*" >&2
RIMAGER_REQUIRE_PYTHON=1 cargo test --release "$@"
echo "== run-tests: all tests passed" >&2
