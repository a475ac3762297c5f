#!/bin/bash
# as run on 2026-12-06 (outputs in /tmp/d/warm/sS, copied to sS/ here)
# boards.sh SEED...: hil evaluate of each seed's none and noise-warm models on the ten emu:// boards 7501-7510
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
B=(); for b in $(seq 7501 7510); do B+=(--board "emu://?seed=$b"); done
for S in "$@"; do for m in none noise-warm; do
  f=/tmp/d/warm/s$S/digits-$m-boards.json
  [ -s $f ] || nice -n 5 /work/main/.venv/bin/hil evaluate /tmp/d/warm/s$S/digits-$m.json "${B[@]}" --json > $f.tmp && mv $f.tmp $f
done; done
