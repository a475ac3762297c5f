#!/bin/bash
# train.sh SEED...: fn16 none + noise (that day's defaults: counts x 0.25, 8 instances, 20 % prior), 20 epochs
. /tmp/d/fn16b/env.sh
for S in "$@"; do for m in none noise; do
  $T -o $R/models/s$S-$m.time $P train --task frozen-noise-16 --robust $m --seed $S --out $R/models/s$S-$m.json --json > $R/models/s$S-$m.summary.json 2> $R/models/s$S-$m.err || echo "train $S $m failed" >> $R/failures
done; done
echo "trained $* $(date +%T)" >> $R/progress
