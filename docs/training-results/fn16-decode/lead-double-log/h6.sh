cd /tmp
run() { for a in "$@"; do /work/main/.venv/bin/python /tmp/d/h6.py $a 2>/dev/null; done; }
run "per_class=16,robust=noise 0" "per_class=16,robust=none 0" "per_class=4,robust=noise 0" "per_class=4,robust=none 0" > /tmp/d/h6/log0.txt &
run "per_class=16,robust=noise 6" "per_class=16,robust=none 6" "per_class=4,robust=noise 6" "per_class=4,robust=none 6" > /tmp/d/h6/log6.txt &
wait
