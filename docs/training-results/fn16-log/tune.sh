#!/bin/bash
# tune.sh SEED BOARD...: hil finetune --objective task (defaults) of the seed's log-counts noise model with each board's fitted twin
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
R=/tmp/d/fn16log; S=$1; shift; mkdir -p $R/tune
for b in "$@"; do
  [ -s $R/tune/s$S-noise-$b.summary.json ] || /usr/bin/time -f %e -o $R/tune/s$S-noise-$b.time nice -n 5 /work/main/.venv/bin/hil finetune $R/s$S/frozen-noise-16-noise.json --board "emu://?seed=$b" --twin /tmp/d/fn16b/b$b/twin.json --objective task --out $R/tune/s$S-noise-$b.json --json > $R/tune/s$S-noise-$b.summary.json 2> $R/tune/s$S-noise-$b.err || echo "tune $S $b failed" >> $R/failures
done
echo "tuned $S $* $(date +%T)" >> $R/progress
