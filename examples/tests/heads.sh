#!/bin/sh
# --head-type as a person would use it: llama-quantize's TQ1_0 file (its head Q6_K) generates
# text as stored; ternary-convert writes it again with a Q4_K head (-m, -z-less, -t), which
# generates too (its progress, in a log file, one line and not a redrawn bar); bitllama2c-3M's
# perplexity with a Q6_K head is within 0.5% of the stored f32 head's; bad values and impossible
# conversions are clear errors.
# usage: heads.sh TERNARY_GENERATE TERNARY_CONVERT TERNARY_PERPLEXITY SHARED_DATA WORK_DIR
set -eu
generate=$1 convert=$2 perplexity=$3 data=$4 work=$5
quants="$data/gguf-quants/tiny-bitnet-tq1_0-default.gguf"
model="$data/models/bitllama2c-3M" text="$data/text/tinystories_sample.txt"
[ -f "$quants" ] && [ -f "$model/model.bin" ] || { echo "SKIPPED: $data is absent"; exit 77; }
mkdir -p "$work"
shift_gen() { f=$1; shift; "$generate" -m "$f" --prompt-tokens 4 -n 12 --temp 0 -t 2 "$@" 2>&1 >/dev/null; }
shift_gen "$quants" | grep -q "decode: 8 tokens" || { echo "FAILED: $quants did not generate"; exit 1; }
shift_gen "$quants" --head-type q8_0 | grep -q "output head converted from q6_k to q8_0" \
  || { echo "FAILED: no conversion message for q8_0"; exit 1; }
"$convert" -m "$quants" "$work/q4_k.gguf" --head-type q4_k -t 2 2>"$work/convert.log"
# stderr is a file here: the progress as one final line, not a redrawn bar
if grep -q "$(printf '\r')" "$work/convert.log" || ! grep -Eq '^encode: ([0-9]+)/\1$' "$work/convert.log"; then
  echo "FAILED: ternary-convert's progress in a log file:"; cat "$work/convert.log"; exit 1
fi
shift_gen "$work/q4_k.gguf" | grep -q "decode: 8 tokens" || { echo "FAILED: the converted file did not generate"; exit 1; }
ppl() { "$perplexity" -m "$model/model.bin" -z "$model/tokenizer.bin" -f "$text" -t 2 "$@" 2>/dev/null | tail -1 | sed 's/.*ppl=\([0-9.]*\).*/\1/'; }
stored=$(ppl) q6=$(ppl --head-type q6_k)
awk -v a="$stored" -v b="$q6" 'BEGIN { d = (b - a) / a; if (d < 0) d = -d; exit !(a > 1 && d <= 0.005) }' \
  || { echo "FAILED: perplexity $q6 with a Q6_K head, $stored as stored"; exit 1; }
for bad in "--head-type q3" "--head-type"; do
  # shellcheck disable=SC2086
  if "$generate" -m "$quants" $bad >/dev/null 2>&1; then echo "FAILED: '$bad' accepted"; exit 1; fi
done
"$perplexity" -m "$data/models/stories260K/stories260K.bin" -z "$data/models/stories260K/tok512.bin" -f "$text" \
  --head-type q6_k 2>&1 | grep -q "not whole q6_k blocks" || { echo "FAILED: Q6_K of rows of 64 without a clear error"; exit 1; }
echo "head types: generate, convert, perplexity $stored stored, $q6 with Q6_K"
