#!/bin/bash
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
cd /work/main
for S in "$@"; do
  /usr/bin/time -f %e_wall_%U_user -o /tmp/d/fn16log/s$S.time nice -n 5 .venv/bin/python -m hil.train.experiment --task frozen-noise-16 --dir /tmp/d/fn16log/s$S --seed $S --modes none,noise --chips 36 > /tmp/d/fn16log/s$S.log 2>&1
  echo "exp $S $(date +%T)" >> /tmp/d/fn16log/progress
done
