#!/bin/bash
# 10-step task fine-tuning for the other three fn16 models on the 13 boards; args: model-prefix (none | s1-none | s1-noise)
set -u
M=$1
case $M in none) F=fn16-none;; s1-none) F=fn16s1-none;; s1-noise) F=fn16s1-noise;; esac
cd /work/main  # the lead ran this from main c95f373 (three at once), outputs copied into bS/ here
D=/tmp/k16results/fn16
for S in 7401 7402 7403 7404 7405 7406 7407 7408 7409 7410 7411 7412 7413; do
  O=/tmp/it10/b$S; mkdir -p $O
  /usr/bin/time -f %e_wall_%U_user_%S_sys -o $O/it10-$M-task.time .venv/bin/python -m hil finetune $D/$F.json --board "emu://?seed=$S" --twin $D/b$S/twin.json --objective task --out $O/it10-$M-task.json --json > $O/it10-$M-task.out 2> $O/it10-$M-task.err || echo "fail $S $M" >> /tmp/it10/failures
  echo "done $M $S $(date +%T)" >> /tmp/it10/progress
done
