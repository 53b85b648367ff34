#!/usr/bin/env bash
# Strong scaling under PBS Pro / OpenPBS with OpenMPI: the SAME observation (VIS
# visibilities) on 1, 2, 4, ... nodes of one allocation, through the scaling harness
# (`rimager scaling run`: scaling-strong.csv, speedup-strong.png, stages-strong.png in RESULTS).
#
#   qsub -l select=8:ncpus=64:mpiprocs=1:ompthreads=64 jobs/pbs_strong.sh   # from the repo root
#
# Layout: ONE MPI rank per node (mpiprocs=1) with rayon threads on all the node's cores
# (threads = THREADS, else OMP_NUM_THREADS (set by ompthreads), else NCPUS, else nproc; passed
# as --threads and RAYON_NUM_THREADS). OpenMPI's `--map-by ppr:1:node --bind-to none` places
# one rank on each of the first k nodes of the allocation (OpenMPI reads it from PBS) and lets
# its threads use every core. For MPICH/Cray/Intel MPI set LAUNCHER, e.g.
# "mpiexec -n {ranks} -ppn 1". GPUs: BACKENDS=gpu with one GPU per node (ngpus=1).
#
# Variables (all optional): RIMAGER (default target/release/rimager), CONFIG (default
# configs/scaling.toml), VIS (default 1e9), NPIX, BACKENDS (default cpu), NODE_COUNTS (default
# powers of two up to the node count), REPEAT (default 1), RESULTS (default
# results/strong-$PBS_JOBID), LAUNCHER (default "mpirun -n {ranks} --map-by ppr:1:node --bind-to none").
#PBS -N rimager-strong
#PBS -l select=4:ncpus=32:mpiprocs=1:ompthreads=32
#PBS -l walltime=01:00:00
#PBS -j oe
set -euo pipefail
cd "${PBS_O_WORKDIR:-.}"
MODE=strong VIS=${VIS:-1e9} exec bash jobs/pbs_sweep.sh
