cd /work/main
run() { for a in "$@"; do .venv/bin/python /tmp/d/h5.py $a 2>/dev/null; done; }
run "per_class=4,robust=none 0" "per_class=4,robust=noise 0" "per_class=8,robust=none 0" "per_class=8,robust=noise 0" "per_class=16,robust=none 0" "per_class=16,robust=noise 0" > /tmp/d/h5/log0.txt &
run "per_class=4,robust=none 6" "per_class=4,robust=noise 6" "per_class=8,robust=none 6" "per_class=8,robust=noise 6" "per_class=16,robust=none 6" "per_class=16,robust=noise 6" > /tmp/d/h5/log6.txt &
wait
