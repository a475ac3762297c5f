#!/bin/bash
# task fine-tuning on boards: one board per call, both models; nice 19
set -u
S=$1; M=$2
cd /work/wt/taskft
export PYTHONPATH=$PWD
D=/tmp/k16results/fn16
O=/tmp/taskft/res/b$S
mkdir -p $O
T="/usr/bin/time -f %e_wall_%U_user_%S_sys"
$T -o $O/$M-task.time nice -n 19 /work/main/.venv/bin/python -m hil finetune $D/fn16-$M.json --board "emu://?seed=$S" --twin $D/b$S/twin.json --objective task --out $O/$M-task.json --json > $O/$M-task.out 2> $O/$M-task.err || echo "fail $S $M" >> /tmp/taskft/res/failures
echo "done $S $M $(date +%T)" >> /tmp/taskft/res/progress
