# pre-registered test (PLAN.txt), 2026-12-06 ~16:23 UTC, from a clone of main at the log-log-counts commit (/tmp/exp)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/tmp/exp
R=/tmp/d/t8; mkdir -p $R
one() { /usr/bin/time -v /work/main/.venv/bin/python -m hil.train.experiment --task frozen-noise-16 --dir $R/s$1 --seed $1 --modes none,noise --chips 36 --per-class 8 --logits log-log-counts --spread 0.3 > $R/s$1.log 2>&1; }
( one 25; one 27; one 29 ) &
( one 26; one 28 ) &
wait
