#!/bin/bash
# the existing rates objective on the same boards, judged on task accuracy (hil evaluate of the tuned model)
set -u
S=$1; M=$2
cd /work/wt/taskft
export PYTHONPATH=$PWD
D=/tmp/k16results/fn16
O=/tmp/taskft/res/b$S
T="/usr/bin/time -f %e_wall_%U_user_%S_sys"
P="nice -n 19 /work/main/.venv/bin/python -m hil"
$T -o $O/$M-rates.time $P finetune $D/fn16-$M.json --board "emu://?seed=$S" --twin $D/b$S/twin.json --out $O/$M-rates.json --json > $O/$M-rates.out 2> $O/$M-rates.err || echo "fail rates $S $M" >> /tmp/taskft/res/failures
$T -o $O/$M-rates-eval.time $P evaluate $O/$M-rates.json --board "emu://?seed=$S" --twin $D/b$S/twin.json --chips 0 --json > $O/$M-rates-eval.json 2> $O/$M-rates-eval.err || echo "fail rates-eval $S $M" >> /tmp/taskft/res/failures
echo "done rates $S $M $(date +%T)" >> /tmp/taskft/res/progress
