#!/bin/sh
# --packing changes where the time goes, never a result: ternary-perplexity on bitllama2c-3M gives
# the same line with the layers in two_bit, in base3 and with the machine's choice, and a bad
# packing or thread count is a clear error.
# usage: packing.sh TERNARY_PERPLEXITY SHARED_DATA   (exit 77, skipped, without ../shared/data)
set -eu
perplexity=$1 data=$2
model="$data/models/bitllama2c-3M"
text="$data/text/tinystories_sample.txt"
[ -f "$model/model.bin" ] && [ -f "$text" ] || { echo "SKIPPED: $model or $text is absent"; exit 77; }
run() { "$perplexity" -m "$model/model.bin" -z "$model/tokenizer.bin" -f "$text" -t 2 "$@" 2>/dev/null | tail -1; }
two_bit=$(run --packing two_bit) base3=$(run --packing base3) auto=$(run)
case "$two_bit" in nll=*) ;; *) echo "FAILED: no result line: '$two_bit'"; exit 1 ;; esac
[ "$base3" = "$two_bit" ] || { echo "FAILED: base3 gave '$base3', two_bit '$two_bit'"; exit 1; }
[ "$auto" = "$two_bit" ] || { echo "FAILED: auto gave '$auto', two_bit '$two_bit'"; exit 1; }
for bad in "--packing three_bit" "-t 0" "-t x"; do
  # shellcheck disable=SC2086
  if "$perplexity" -m "$model/model.bin" -f "$text" $bad >/dev/null 2>&1; then echo "FAILED: '$bad' accepted"; exit 1; fi
  # shellcheck disable=SC2086
  "$perplexity" -m "$model/model.bin" -f "$text" $bad 2>&1 | grep -q "error" || { echo "FAILED: '$bad' without a clear error"; exit 1; }
done
echo "ternary-perplexity: $two_bit in every packing"
