cd /tmp
run() { for a in "$@"; do /work/main/.venv/bin/python /tmp/d/h7/h7.py $a 2>/dev/null; done; }
run "per_class=8,robust=noise 0" "per_class=8,robust=none 0" "per_class=12,robust=noise 0" "per_class=12,robust=none 0" "per_class=8,robust=noise,instances=4 0" "per_class=8,robust=noise,spread=0.3 0" >> /tmp/d/h7/log0.txt &
run "per_class=8,robust=noise 6" "per_class=8,robust=none 6" "per_class=12,robust=noise 6" "per_class=12,robust=none 6" "per_class=8,robust=noise,instances=4 6" "per_class=8,robust=noise,spread=0.3 6" >> /tmp/d/h7/log6.txt &
wait
# then, after the first runs (16:19 UTC), spread 0.4 on both seeds, one job each:
#   python h7.py "per_class=8,robust=noise,spread=0.4" 0 >> log0.txt ; python h7.py "per_class=8,robust=noise,spread=0.4" 6 >> log6.txt
