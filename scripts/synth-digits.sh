#!/usr/bin/env bash
# Synthesises spoken digits with espeak-ng (our own generated data, no third-party audio) and
# writes CSV manifests for `aum train` / `aum eval`: FSDD's standard split plus 400 synthetic
# training clips (5 voices x 4 variants x 2 speeds x 10 digits), and 180 held-out clips in
# voices the training never hears (3 voices x 3 variants x 2 speeds x 10 digits).
# Usage: scripts/synth-digits.sh OUT_DIR [FSDD_DIR]   (needs espeak-ng and sox)
set -euo pipefail
out=${1:?usage: synth-digits.sh OUT_DIR [FSDD_DIR]}
fsdd=${2:-../shared/data/fsdd}
mkdir -p "$out"
words=(zero one two three four five six seven eight nine)
gen() { # voice speed pitch prefix
  for d in 0 1 2 3 4 5 6 7 8 9; do
    espeak-ng -v "$1" -s "$2" -p "$3" -w "$out/tmp.wav" "${words[$d]}"
    sox "$out/tmp.wav" -r 8000 -c 1 -b 16 "$out/$4_${d}_${1//+/_}_$2_$3.wav"
  done
}
for v in en-gb en-gb-scotland en-gb-x-gbclan en-029 en-us-nyc; do
  for var in "" +m3 +f2 +m7; do for s in 130 170; do gen "$v$var" "$s" 50 train; done; done
done
for v in en-gb-x-rp en-gb-x-gbcwmd en-us; do
  for var in "" +f4 +m5; do for s in 140 165; do gen "$v$var" "$s" 45 held; done; done
done
rm -f "$out/tmp.wav"
{
  echo "path,label,split"
  for f in "$fsdd"/*.wav; do
    b=$(basename "$f" .wav); d=${b%%_*}; i=${b##*_}
    if [ "$i" -lt 5 ]; then echo "$(realpath "$f"),$d,test"; else echo "$(realpath "$f"),$d,train"; fi
  done
  for f in "$out"/train_*.wav; do b=$(basename "$f"); echo "$(realpath "$f"),$(echo "$b" | cut -d_ -f2),train"; done
} > "$out/mix.csv"
{
  echo "path,label"
  for f in "$out"/held_*.wav; do b=$(basename "$f"); echo "$(realpath "$f"),$(echo "$b" | cut -d_ -f2)"; done
} > "$out/held.csv"
echo "wrote $out/mix.csv ($(($(wc -l < "$out/mix.csv") - 1)) clips) and $out/held.csv ($(($(wc -l < "$out/held.csv") - 1)) clips)"
