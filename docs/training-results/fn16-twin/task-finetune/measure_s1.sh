#!/bin/bash
set -u
S=$1; M=$2
cd /work/wt/taskft
export PYTHONPATH=$PWD
D=/tmp/k16results/fn16
O=/tmp/taskft/res/b$S
mkdir -p $O
T="/usr/bin/time -f %e_wall_%U_user_%S_sys"
$T -o $O/s1-$M-task.time nice -n 19 /work/main/.venv/bin/python -m hil finetune $D/fn16s1-$M.json --board "emu://?seed=$S" --twin $D/b$S/twin.json --objective task --out $O/s1-$M-task.json --json > $O/s1-$M-task.out 2> $O/s1-$M-task.err || echo "fail s1 $S $M" >> /tmp/taskft/res/failures
echo "done s1 $S $M $(date +%T)" >> /tmp/taskft/res/progress
