#!/bin/bash
# board.sh S: characterize + fit board S, then every model naive-free twin evaluation
. /tmp/d/fn16b/env.sh
S=$1; D=$R/b$S; mkdir -p $D; URL="emu://?seed=$S"
[ -s $D/twin.json ] || {
$T -o $D/char.time $P characterize --board "$URL" --out $D/char --json > $D/char.json 2> $D/char.err || echo "char $S failed" >> $R/failures
$T -o $D/fit.time $P fit $D/char --out $D/twin.json --json > $D/fit.json 2> $D/fit.err || echo "fit $S failed" >> $R/failures
}
for seed in 1 2 3 4 5; do for m in none noise; do
  M=s$seed-$m
  [ -s $D/$M-twin.json ] || $T -o $D/$M-twin.time $P evaluate $R/models/$M.json --board "$URL" --twin $D/twin.json --chips 0 --json > $D/$M-twin.json 2> $D/$M-twin.err || echo "eval twin $M $S failed" >> $R/failures
done; done
echo "board $S $(date +%T)" >> $R/progress
