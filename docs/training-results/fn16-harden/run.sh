# pre-registered test (PLAN.txt), 2026-12-06 ~16:54 UTC, from the clone /tmp/exp (main at the log-log-counts commit)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/tmp/exp
R=/tmp/d/t9; mkdir -p $R
one() { /usr/bin/time -v /work/main/.venv/bin/python -m hil.train.experiment --task frozen-noise-16 --dir $R/s$1 --seed $1 --modes none,noise-warm,none-warm --chips 36 --instances 8 > $R/s$1.log 2>&1; }
( one 30; one 32; one 34 ) &
( one 31; one 33 ) &
wait
