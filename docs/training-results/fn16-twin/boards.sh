#!/bin/bash
# one board: characterize, fit, then evaluate none/noise naive and with the fitted twin (all nice 19)
set -u
S=$1
cd /work/wt/k16twin
export PYTHONPATH=$PWD
P="nice -n 19 /work/main/.venv/bin/python -m hil"
D=results/fn16/b$S
mkdir -p $D
URL="emu://?seed=$S"
T="/usr/bin/time -f %e_wall_%U_user_%S_sys"
$T -o $D/char.time $P characterize --board "$URL" --out $D/char --json > $D/char.json 2> $D/char.err || echo "char $S failed" >> results/fn16/failures
$T -o $D/fit.time $P fit $D/char --out $D/twin.json --json > $D/fit.json 2> $D/fit.err || echo "fit $S failed" >> results/fn16/failures
for m in none noise; do
  $T -o $D/$m-naive.time $P evaluate results/fn16/fn16-$m.json --board "$URL" --chips 0 --json > $D/$m-naive.json 2> $D/$m-naive.err || echo "eval naive $m $S failed" >> results/fn16/failures
  $T -o $D/$m-twin.time $P evaluate results/fn16/fn16-$m.json --board "$URL" --twin $D/twin.json --chips 0 --json > $D/$m-twin.json 2> $D/$m-twin.err || echo "eval twin $m $S failed" >> results/fn16/failures
done
echo "done $S $(date +%T)" >> results/fn16/progress
