#!/bin/sh
# ternary-tokenize against llama.cpp's expected Llama 3, GPT-2 and Llama 2 ids, one line per text.
# usage: tokenize.sh TERNARY_TOKENIZE SHARED_DATA   (exit 77, skipped, without ../shared/data)
set -eu
tokenize=$1 data=$2
llama3="$data/tokenizers/llama3"
[ -f "$llama3/tokenizer.model" ] || { echo "SKIPPED: $llama3 is absent"; exit 77; }

# check TOKENIZER INPUTS OUTPUTS N...: test strings N (1-based) give line N of the .out file.
check() {
  tok=$1 inp=$2 out=$3
  shift 3
  for n in "$@"; do
    text=$(awk -v n="$n" 'BEGIN{RS="\n__ggml_vocab_test__\n"} NR==n {printf "%s", $0}' "$inp")
    want=$(sed -n "${n}p" "$out" | sed 's/^ *//; s/ *$//')
    got=$("$tokenize" -z "$tok" --no-bos -- "$text")
    [ "$got" = "$want" ] || { echo "FAILED: string $n of $inp: got '$got', want '$want'"; exit 1; }
  done
}
check "$llama3/tokenizer.model" "$llama3/ggml-vocab-llama-bpe.gguf.inp" "$llama3/ggml-vocab-llama-bpe.gguf.out" 1 2 12 19 21 23 29 33 44
gpt2="$data/gguf-vocab/ggml-vocab-gpt-2.gguf"
check "$gpt2" "$gpt2.inp" "$gpt2.out" 12 17 33
spm="$data/tokenizers/llama2"
check "$spm/tokenizer.model" "$spm/ggml-vocab-llama-spm.gguf.inp" "$spm/ggml-vocab-llama-spm.gguf.out" 12 13 21 33
check "$spm/ggml-vocab-llama-spm.gguf" "$spm/ggml-vocab-llama-spm.gguf.inp" "$spm/ggml-vocab-llama-spm.gguf.out" 12 29

# One line per text; BOS by default; special tokens only with --special.
out=$("$tokenize" -z "$llama3/tokenizer.model" "Hello world" "<|eot_id|>")
[ "$(echo "$out" | wc -l)" -eq 2 ] || { echo "FAILED: two texts, not two lines: $out"; exit 1; }
[ "$(echo "$out" | sed -n 1p)" = "128000 9906 1917" ] || { echo "FAILED: BOS + Hello world: $out"; exit 1; }
[ "$(echo "$out" | sed -n 2p | wc -w)" -gt 2 ] || { echo "FAILED: <|eot_id|> without --special must be text: $out"; exit 1; }
[ "$("$tokenize" -z "$llama3/tokenizer.model" --special --no-bos "<|eot_id|>")" = "128009" ] || { echo "FAILED: --special"; exit 1; }
# Llama 3.1's names for ids 128004-128010 (Meta's llama-models), around ordinary text.
a=$("$tokenize" -z "$llama3/tokenizer.model" --no-bos a) b=$("$tokenize" -z "$llama3/tokenizer.model" --no-bos b)
got=$("$tokenize" -z "$llama3/tokenizer.model" --no-bos --special '<|start_header_id|>a<|eom_id|>b<|python_tag|>')
[ "$got" = "128006 $a 128008 $b 128010" ] || { echo "FAILED: Llama 3.1 names: got '$got'"; exit 1; }
got=$("$tokenize" -z "$llama3/tokenizer.model" --no-bos --special '<|finetune_right_pad_id|><|step_id|><|reserved_special_token_2|>')
[ "$got" = "128004 128005 128011" ] || { echo "FAILED: Llama 3.1 names: got '$got'"; exit 1; }
# Errors are clear and exit non-zero.
if "$tokenize" -z "$data/models/stories260K/stories260K.bin" x 2>/dev/null; then echo "FAILED: a model without tokenizer accepted"; exit 1; fi
if "$tokenize" x 2>/dev/null; then echo "FAILED: no -z accepted"; exit 1; fi
echo "ternary-tokenize: all expected ids"
