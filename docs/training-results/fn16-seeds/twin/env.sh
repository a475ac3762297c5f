# as run on 2026-12-06 from /tmp/d/fn16b (R); the models were trained with that day's defaults (today: add --logits counts --logit-scale 0.25 --instances 8)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
P="nice -n 10 /work/main/.venv/bin/hil"
T="/usr/bin/time -f %e_wall_%U_user_%S_sys"
R=/tmp/d/fn16b
