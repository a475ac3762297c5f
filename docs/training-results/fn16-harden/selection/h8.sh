cd /tmp
run() { S=$1; shift; for a in "$@"; do /work/main/.venv/bin/python /tmp/d/h8/h8.py $a $S 2>/dev/null; done; }
run 0 none "warm:robust=noise" "warm:robust=none" "warm:robust=noise,spread=0.3" "warm:robust=noise,instances=8" >> /tmp/d/h8/log0.txt
run 6 none "warm:robust=noise" "warm:robust=none" "warm:robust=noise,spread=0.3" "warm:robust=noise,instances=8" >> /tmp/d/h8/log6.txt
# As run: seed 6's list was split after its `none` model (16:47 UTC): instances=8 in its own job (log6b.txt), the rest in another.
