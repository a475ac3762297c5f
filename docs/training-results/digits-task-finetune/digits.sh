#!/bin/bash
# digits: train (default), characterize + fit 2 fresh boards, task fine-tuning on each (all nice 19)
set -u
cd /work/wt/taskft
export PYTHONPATH=$PWD
O=/tmp/taskft/digits
mkdir -p $O
T="/usr/bin/time -f %e_wall_%U_user_%S_sys"
P="nice -n 19 /work/main/.venv/bin/python -m hil"
$T -o $O/train.time $P train --task digits --out $O/digits.json --json > $O/train.out 2> $O/train.err || echo "fail digits train" >> /tmp/taskft/res/failures
echo "done digits train $(date +%T)" >> /tmp/taskft/res/progress
for S in 7461 7462; do
  URL="emu://?seed=$S"
  $T -o $O/char$S.time $P characterize --board "$URL" --out $O/char$S --json > $O/char$S.json 2> $O/char$S.err || echo "fail char $S" >> /tmp/taskft/res/failures
  $T -o $O/fit$S.time $P fit $O/char$S --out $O/twin$S.json --json > $O/fit$S.json 2> $O/fit$S.err || echo "fail fit $S" >> /tmp/taskft/res/failures
  $T -o $O/task$S.time $P finetune $O/digits.json --board "$URL" --twin $O/twin$S.json --objective task --out $O/task$S.json --json > $O/task$S.out 2> $O/task$S.err || echo "fail digits task $S" >> /tmp/taskft/res/failures
  echo "done digits $S $(date +%T)" >> /tmp/taskft/res/progress
done
