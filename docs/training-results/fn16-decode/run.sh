# pre-registered test (2026-12-06 ~14:45 UTC): frozen-noise-16 defaults (16 outputs a class, decode log-sum), fresh seeds 20-24
cd /work/main
one() { /usr/bin/time -v .venv/bin/python -m hil.train.experiment --task frozen-noise-16 --dir /tmp/d/t7/s$1 --seed $1 --modes none,noise --chips 36 > /tmp/d/t7/s$1.log 2>&1; }
( one 20; one 22; one 24 ) &
( one 21; one 23 ) &
wait
