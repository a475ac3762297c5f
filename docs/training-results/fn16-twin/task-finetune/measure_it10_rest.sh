#!/bin/bash
# 10-step task fine-tuning (noise, seed 0) on the 7 boards the taskft helper did not run at 10 steps
set -u
cd /work/main  # the lead ran this from main 3ae5c1d; outputs copied into bS/ here
D=/tmp/k16results/fn16
for S in 7403 7404 7406 7407 7408 7409 7412; do
  O=/tmp/it10/b$S; mkdir -p $O
  /usr/bin/time -f %e_wall_%U_user_%S_sys -o $O/it10-noise-task.time nice -n 19 .venv/bin/python -m hil finetune $D/fn16-noise.json --board "emu://?seed=$S" --twin $D/b$S/twin.json --objective task --iterations 10 --out $O/it10-noise-task.json --json > $O/it10-noise-task.out 2> $O/it10-noise-task.err || echo "fail $S" >> /tmp/it10/failures
  echo "done $S $(date +%T)" >> /tmp/it10/progress
done
