#!/usr/bin/env bash
# Synthesises a 12-word keyword-spotting set with espeak-ng (our own generated data, no
# third-party audio) in the folder-per-class layout, for `aum train` without a recipe:
# OUT/train/WORD/*.wav, 384 clips (4 voices x 4 variants x 2 speeds x 12 words), and
# OUT/test/WORD/*.wav, 108 clips in voices the training never hears (3 x 3 x 1 x 12).
# Usage: scripts/synth-words.sh OUT_DIR   (needs espeak-ng and sox)
set -euo pipefail
out=${1:?usage: synth-words.sh OUT_DIR}
words=(yes no up down left right on off stop go cat dog)
gen() { # split voice speed pitch
  for w in "${words[@]}"; do
    mkdir -p "$out/$1/$w"
    espeak-ng -v "$2" -s "$3" -p "$4" -w "$out/tmp.wav" "$w"
    sox -q "$out/tmp.wav" -r 16000 -c 1 -b 16 "$out/$1/$w/${2//+/_}_$3_$4.wav"
  done
}
for v in en-gb en-gb-scotland en-029 en-us-nyc; do
  for var in "" +m3 +f2 +m7; do for s in 130 170; do gen train "$v$var" "$s" 50; done; done
done
for v in en-gb-x-rp en-gb-x-gbcwmd en-us; do
  for var in "" +f4 +m5; do gen test "$v$var" 150 45; done
done
rm -f "$out/tmp.wav"
echo "wrote $(find "$out/train" -name '*.wav' | wc -l) training and $(find "$out/test" -name '*.wav' | wc -l) test clips under $out"
