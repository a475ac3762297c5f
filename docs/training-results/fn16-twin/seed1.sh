#!/bin/bash
# training seed 1: the same 14 boards and fitted twins, naive and twin (nice 19)
set -u
cd /work/wt/k16twin
export PYTHONPATH=$PWD
P="nice -n 19 /work/main/.venv/bin/python -m hil"
T="/usr/bin/time -f %e_wall_%U_user_%S_sys"
for m in none noise; do
  $T -o results/fn16/train1-$m.time $P train --task frozen-noise-16 --robust $m --epochs 14 --seed 1 --out results/fn16/fn16s1-$m.json --json > results/fn16/train1-$m.json 2> results/fn16/train1-$m.err
done
for S in $(seq 7401 7414); do
  D=results/fn16/b$S; URL="emu://?seed=$S"
  for m in none noise; do
    $T -o $D/s1-$m-naive.time $P evaluate results/fn16/fn16s1-$m.json --board "$URL" --chips 0 --json > $D/s1-$m-naive.json 2> $D/s1-$m-naive.err || echo "s1 naive $m $S failed" >> results/fn16/failures
    $T -o $D/s1-$m-twin.time $P evaluate results/fn16/fn16s1-$m.json --board "$URL" --twin $D/twin.json --chips 0 --json > $D/s1-$m-twin.json 2> $D/s1-$m-twin.err || echo "s1 twin $m $S failed" >> results/fn16/failures
  done
  echo "s1 done $S $(date +%T)" >> results/fn16/progress
done
