#!/bin/bash
set -u
cd /work/wt/tasksel
export PYTHONPATH=$PWD
PY="nice -n 19 /work/main/.venv/bin/python"
P="$PY -m hil"
F=/tmp/k16results/fn16
R=/tmp/tasksel
T="/usr/bin/time -f %e_wall_%U_user_%S_sys"
for S in 7451 7452 7453; do
  D=$R/fresh$S; mkdir -p $D; URL="emu://?seed=$S"
  $T -o $D/char.time $P characterize --board "$URL" --out $D/char --json > $D/char.json 2> $D/char.err || echo "char $S failed" >> $R/failures
  $T -o $D/fit.time $P fit $D/char --out $D/twin.json --json > $D/fit.json 2> $D/fit.err || echo "fit $S failed" >> $R/failures
  for m in fn16-none fn16-noise fn16s1-none fn16s1-noise; do
    $T -o $D/$m.time $PY $R/fresh_eval.py $F/$m.json "$URL" $D/twin.json > $D/$m.json 2> $D/$m.err || echo "fresh $m $S failed" >> $R/failures
  done
  echo "fresh $S $(date +%T)" >> $R/progress
done
for pre in s1 s0; do
  for S in $(seq 7401 7414); do
    D=$R/b$S; mkdir -p $D; URL="emu://?seed=$S"
    for m in none noise; do
      if [ $pre = s1 ]; then M=$F/fn16s1-$m.json; else M=$F/fn16-$m.json; fi
      $T -o $D/$pre-$m-twin.time $P evaluate $M --board "$URL" --twin $F/b$S/twin.json --chips 0 --json > $D/$pre-$m-twin.json 2> $D/$pre-$m-twin.err || echo "$pre $m $S failed" >> $R/failures
    done
    echo "$pre $S $(date +%T)" >> $R/progress
  done
done
echo ALLDONE >> $R/progress
