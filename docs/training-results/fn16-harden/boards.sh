#!/bin/bash
# boards.sh SEED:MODE...: naive board evaluation (ten boards 7501-7510, one hil evaluate call) of each seed's model, as PLAN.txt says (fn16-harden);
# waits for the seed's experiment. Run from the same clone as run.sh (PYTHONPATH=/tmp/exp).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=/tmp/exp
P="nice -n 5 /work/main/.venv/bin/python -m hil"
R=/tmp/d/t9
B=""; for b in $(seq 7501 7510); do B="$B --board emu://?seed=$b"; done
for SM in "$@"; do
  S=${SM%:*}; m=${SM#*:}
  while [ ! -s $R/s$S/frozen-noise-16-results.json ] || ! grep -q "\"none-warm\"" $R/s$S/frozen-noise-16-results.json; do sleep 20; done
  mkdir -p $R/boards/s$S
  $P evaluate $R/s$S/frozen-noise-16-$m.json $B --chips 0 --json > $R/boards/s$S/frozen-noise-16-$m-boards.json.part 2> $R/boards/s$S/$m.err \
    && mv $R/boards/s$S/frozen-noise-16-$m-boards.json.part $R/boards/s$S/frozen-noise-16-$m-boards.json || echo "naive $S $m failed" >> $R/failures
  echo "naive boards $S $m $(date +%T)" >> $R/progress
done
