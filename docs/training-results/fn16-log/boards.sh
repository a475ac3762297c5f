#!/bin/bash
# as run on 2026-12-06: R=/tmp/d/fn16log held exp.sh's result folders; the twins are docs/training-results/fn16-seeds/twin's boards (twin.json not kept: 2 MB each)
# boards.sh SEED...: each seed's log-counts models on boards 7501-7510, naive (one call) and with each board's fitted twin
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
P="nice -n 5 /work/main/.venv/bin/hil"
R=/tmp/d/fn16log
B=""; for b in $(seq 7501 7510); do B="$B --board emu://?seed=$b"; done
for S in "$@"; do
  while [ ! -s $R/s$S/frozen-noise-16-results.json ] || ! grep -q '"noise"' $R/s$S/frozen-noise-16-results.json; do sleep 20; done
  mkdir -p $R/boards/s$S
  for m in none noise; do
    M=$R/s$S/frozen-noise-16-$m.json
    [ -s $R/boards/s$S/frozen-noise-16-$m-boards.json ] || $P evaluate $M $B --chips 0 --json > $R/boards/s$S/frozen-noise-16-$m-boards.json 2> $R/boards/s$S/$m.err || echo "naive $S $m failed" >> $R/failures
    for b in $(seq 7501 7510); do
      [ -s $R/boards/s$S/$m-twin-$b.json ] || $P evaluate $M --board "emu://?seed=$b" --twin /tmp/d/fn16b/b$b/twin.json --chips 0 --json > $R/boards/s$S/$m-twin-$b.json 2>> $R/boards/s$S/$m.err || echo "twin $S $m $b failed" >> $R/failures
    done
  done
  echo "boards $S $(date +%T)" >> $R/progress
done
