#!/bin/bash
set -u
S=$1; M=$2
cd /work/wt/taskft
export PYTHONPATH=$PWD
D=/tmp/k16results/fn16
O=/tmp/taskft/res/b$S
T="/usr/bin/time -f %e_wall_%U_user_%S_sys"
$T -o $O/it10-$M-task.time nice -n 19 /work/main/.venv/bin/python -m hil finetune $D/fn16-$M.json --board "emu://?seed=$S" --twin $D/b$S/twin.json --objective task --iterations 10 --out $O/it10-$M-task.json --json > $O/it10-$M-task.out 2> $O/it10-$M-task.err || echo "fail it10 $S $M" >> /tmp/taskft/res/failures
echo "done it10 $S $M $(date +%T)" >> /tmp/taskft/res/progress
