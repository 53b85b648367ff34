#!/usr/bin/env bash
# Strong scaling on a Slurm cluster: the SAME observation (VIS visibilities in all) imaged on
# 1, 2, 4, ... nodes of one allocation, through the scaling harness (`rimager scaling run`),
# which writes scaling-strong.csv, speedup-strong.png and stages-strong.png into RESULTS.
#
#   sbatch --nodes=8 --cpus-per-task=64 jobs/slurm_strong.sh                 # from the repo root
#   sbatch --nodes=4 --cpus-per-task=16 --gpus-per-node=1 --export=ALL,BACKENDS=gpu jobs/slurm_strong.sh
#
# Layout: ONE MPI rank per node (--ntasks-per-node=1), each rank running rayon threads on all
# the cores Slurm gives it (--cpus-per-task; passed as --threads and RAYON_NUM_THREADS), and
# one GPU per rank with BACKENDS=gpu (--gpus-per-task=1). rimager splits the rows between
# ranks, grids them with threads inside the rank, and sums the grids to rank 0 (MPI_Reduce):
# one rank per node keeps one grid per node and the reduction at one grid per node.
# For every k in NODE_COUNTS the harness runs
#   srun --nodes=k --ntasks=k --ntasks-per-node=1 --cpus-per-task=THREADS [--gpus-per-task=1] rimager image ...
#
# Variables (all optional):
#   RIMAGER      binary                              (default target/release/rimager)
#   CONFIG       template config                     (default configs/scaling.toml)
#   VIS          total visibilities, fixed           (default 1e9)
#   NPIX         image side, pixels                  (default: the config's, 4096)
#   BACKENDS     cpu, gpu or cpu,gpu                 (default cpu)
#   NODE_COUNTS  node counts to run                  (default powers of two up to SLURM_NNODES)
#   REPEAT       runs per node count                 (default 1)
#   RESULTS      output directory                    (default results/strong-$SLURM_JOB_ID)
#   SRUN_ARGS    extra srun arguments, e.g. "--mpi=pmix" if your site needs it
#   LAYOUTS      ranks x threads list ("1x1,2x1"), instead of NODE_COUNTS: ranks packed by Slurm
#SBATCH --job-name=rimager-strong
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=32
#SBATCH --exclusive
#SBATCH --time=01:00:00
#SBATCH --output=rimager-strong-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
MODE=strong VIS=${VIS:-1e9} exec bash jobs/slurm_sweep.sh
