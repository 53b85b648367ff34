#!/usr/bin/env bash
# Fresh-machine set-up for rimager on Debian 12 / Ubuntu: system packages, Rust, the Python
# modules the interop tests and scripts use, and a release build.
#
#   ./setup.sh                # as root, or as a user with sudo
#
# Idempotent: every step first checks whether its work is already done, so running it again
# costs a few seconds (plus cargo's no-op check). Environment:
#   SETUP_SKIP_APT=1     do not touch system packages
#   SETUP_SKIP_PIP=1     do not install Python modules
#   SETUP_SKIP_BUILD=1   do not run `cargo build --release`
#   PYTHON=python3       interpreter to install the Python modules for (the tests use
#                        $RIMAGER_PYTHON, else python3)
#   CARGO_TARGET_DIR     honoured by cargo as usual (default: ./target)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

say() { printf '\n== setup: %s\n' "$*" >&2; }
die() { printf '\nsetup: ERROR: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else
    command -v sudo >/dev/null || die "not root and no sudo: run as root or install sudo"
    SUDO="sudo"
fi

# --- 1. System packages --------------------------------------------------------------------
# Checked with `apt-cache policy` on Debian 12 (bookworm): all of these exist there.
#   build-essential, pkg-config  C toolchain, pkg-config (hdf5-sys and mpi-sys find libraries with it)
#   cmake, clang, libclang-dev   bindgen for the MPI bindings (rsmpi) needs libclang
#   libhdf5-dev                  HDF5 C library (hdf5-metno links it dynamically)
#   libopenmpi-dev openmpi-bin   OpenMPI headers/library and mpirun
#   python3 python3-pip          the interop tests and scripts/*.py
APT_PACKAGES=(build-essential pkg-config cmake clang libclang-dev libhdf5-dev
              libopenmpi-dev openmpi-bin python3 python3-pip)
if [ "${SETUP_SKIP_APT:-0}" != 1 ]; then
    command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian/Ubuntu only (set SETUP_SKIP_APT=1 if the packages above are installed another way)"
    missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing system packages: ${missing[*]}"
        $SUDO apt-get update
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y "${APT_PACKAGES[@]}"
    else
        say "system packages already installed"
    fi
fi

# --- 2. Rust ---------------------------------------------------------------------------------
# rimager needs Rust >= 1.85 (Cargo.toml rust-version). rustup is tried first; where its
# download is unreachable (e.g. networks that only allow package registries) we fall back to
# Debian's cargo/rustc packages. NOTE: Debian 12 ships rustc 1.63, which is too old for
# rimager; the version check below then stops with a clear message.
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
if ! command -v cargo >/dev/null; then
    say "cargo not found: trying rustup"
    if command -v curl >/dev/null || $SUDO apt-get install -y curl; then
        if curl --proto '=https' --tlsv1.2 -sSf --max-time 60 https://sh.rustup.rs \
                | sh -s -- -y --profile minimal --component clippy,rustfmt; then
            . "$HOME/.cargo/env"
        fi
    fi
fi
if ! command -v cargo >/dev/null; then
    say "rustup unavailable: falling back to the distribution's cargo and rustc (apt-get install cargo rustc)"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y cargo rustc
fi
command -v cargo >/dev/null || die "no cargo after rustup and apt-get; install Rust >= 1.85 (https://rustup.rs)"
rustc_version=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n1.85.0\n' "${rustc_version%%-*}" | sort -V | head -n1)" != "1.85.0" ]; then
    die "rustc $rustc_version is older than 1.85 (Cargo.toml rust-version); install a newer Rust with rustup (https://rustup.rs), e.g. on a machine with internet access"
fi
say "using $(cargo --version), $(rustc --version)"

# --- 3. Python modules -----------------------------------------------------------------------
# numpy, h5py: reading our files; astropy: FITS/WCS interop test; ducc0: reference imager.
PYTHON=${PYTHON:-python3}
PY_MODULES=(numpy h5py astropy ducc0)
if [ "${SETUP_SKIP_PIP:-0}" != 1 ]; then
    if "$PYTHON" -c "import $(IFS=,; echo "${PY_MODULES[*]}")" 2>/dev/null; then
        say "python modules already installed for $PYTHON"
    else
        say "installing python modules: ${PY_MODULES[*]}"
        # A plain pip install first; Debian 12's system python refuses it (PEP 668,
        # "externally-managed-environment"), and only then we add --break-system-packages.
        if ! "$PYTHON" -m pip install "${PY_MODULES[@]}"; then
            say "plain pip install refused; retrying with --break-system-packages"
            "$PYTHON" -m pip install --break-system-packages "${PY_MODULES[@]}"
        fi
        "$PYTHON" -c "import $(IFS=,; echo "${PY_MODULES[*]}")" \
            || die "python modules ${PY_MODULES[*]} still not importable by $PYTHON"
    fi
fi

# --- 4. Build --------------------------------------------------------------------------------
if [ "${SETUP_SKIP_BUILD:-0}" != 1 ]; then
    say "cargo build --release"
    cargo build --release
    say "built ${CARGO_TARGET_DIR:-target}/release/rimager"
fi
