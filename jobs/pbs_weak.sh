#!/usr/bin/env bash
# Weak scaling under PBS Pro / OpenPBS with OpenMPI: VIS visibilities PER RANK on 1, 2, 4, ...
# nodes (the observation grows with the nodes; ideal: flat time), through the scaling harness
# (scaling-weak.csv, speedup-weak.png, stages-weak.png in RESULTS).
#
#   qsub -l select=8:ncpus=64:mpiprocs=1:ompthreads=64 jobs/pbs_weak.sh     # from the repo root
#
# Layout and variables: as jobs/pbs_strong.sh (one rank per node, threads on all its cores),
# but VIS is per rank (default 1e8) and RESULTS defaults to results/weak-$PBS_JOBID.
#PBS -N rimager-weak
#PBS -l select=4:ncpus=32:mpiprocs=1:ompthreads=32
#PBS -l walltime=01:00:00
#PBS -j oe
set -euo pipefail
cd "${PBS_O_WORKDIR:-.}"
MODE=weak VIS=${VIS:-1e8} exec bash jobs/pbs_sweep.sh
