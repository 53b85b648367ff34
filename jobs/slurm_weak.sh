#!/usr/bin/env bash
# Weak scaling on a Slurm cluster: VIS visibilities PER RANK, so the observation grows with
# the number of nodes and the work per rank stays constant (ideal: flat time), through the
# scaling harness (`rimager scaling run`), which writes scaling-weak.csv, speedup-weak.png
# and stages-weak.png into RESULTS.
#
#   sbatch --nodes=8 --cpus-per-task=64 jobs/slurm_weak.sh                   # from the repo root
#
# Layout: as jobs/slurm_strong.sh: ONE MPI rank per node (--ntasks-per-node=1), rayon threads
# on the node's cores (--cpus-per-task), one GPU per rank with BACKENDS=gpu.
# How the observation grows: the harness keeps the template's 4-hour track and channels and
# shortens the dump interval so that there are VIS x k visibilities for k ranks: the rows
# (baseline x time) are split evenly, so each rank grids VIS of them. The image and grid stay
# the same, so the FFT on rank 0 and the grid reduction are the parts that do not shrink --
# that is what weak scaling measures here.
#
# Variables (all optional): as jobs/slurm_strong.sh, but VIS is per rank (default 1e8) and
# RESULTS defaults to results/weak-$SLURM_JOB_ID.
#SBATCH --job-name=rimager-weak
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=32
#SBATCH --exclusive
#SBATCH --time=01:00:00
#SBATCH --output=rimager-weak-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
MODE=weak VIS=${VIS:-1e8} exec bash jobs/slurm_sweep.sh
