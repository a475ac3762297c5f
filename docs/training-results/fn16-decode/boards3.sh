#!/bin/bash
# boards3.sh SEED:MODE...: boards_counts.py on each seed's model (after the tie rounding; counts kept)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
R=/tmp/d/t7
mkdir -p $R/counts
for SM in "$@"; do
  S=${SM%:*}; m=${SM#*:}
  nice -n 5 /work/main/.venv/bin/python $R/boards_counts.py $R/s$S/frozen-noise-16-$m.json $R/counts/s$S-$m.npz >> $R/counts/log.txt 2>> $R/counts/err.txt || echo "counts $S $m failed" >> $R/failures
done
