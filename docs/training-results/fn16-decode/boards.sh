#!/bin/bash
# As run: it evaluated seed 20's noise model naive (boards/hil-evaluate/s20/frozen-noise-16-noise-boards.json) and was then stopped for time;
# boards2.sh (naive only, two jobs) ran the rest. The twin rows of PLAN.txt were not run.
# boards.sh SEED...: each seed's models (frozen-noise-16 defaults of section 4.7) on boards 7501-7510, naive (one call) and with each board's fitted twin
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
P="nice -n 5 /work/main/.venv/bin/hil"
R=/tmp/d/t7
B=""; for b in $(seq 7501 7510); do B="$B --board emu://?seed=$b"; done
for S in "$@"; do
  while [ ! -s $R/s$S/frozen-noise-16-results.json ] || ! grep -q '"noise"' $R/s$S/frozen-noise-16-results.json; do sleep 20; done
  mkdir -p $R/boards/s$S
  for m in noise none; do
    M=$R/s$S/frozen-noise-16-$m.json
    $P evaluate $M $B --chips 0 --json > $R/boards/s$S/frozen-noise-16-$m-boards.json 2> $R/boards/s$S/$m.err || echo "naive $S $m failed" >> $R/failures
  done
  echo "naive boards $S $(date +%T)" >> $R/progress
done
for S in "$@"; do
  for m in noise none; do
    M=$R/s$S/frozen-noise-16-$m.json
    for b in $(seq 7501 7510); do
      $P evaluate $M --board "emu://?seed=$b" --twin /tmp/d/fn16b/b$b/twin.json --chips 0 --json > $R/boards/s$S/$m-twin-$b.json 2>> $R/boards/s$S/$m.err || echo "twin $S $m $b failed" >> $R/failures
    done
  done
  echo "twin boards $S $(date +%T)" >> $R/progress
done
