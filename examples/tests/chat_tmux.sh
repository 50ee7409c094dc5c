#!/bin/sh
# ternary-chat used the way a person uses it, in a terminal: tmux types into it (send-keys) and
# reads the screen (capture-pane). The model is random-weight with BitNet b1.58 2B4T's structure
# (small dimensions) and the full Llama 3 vocabulary, written by ternary-convert.
# usage: chat_tmux.sh TERNARY_CONVERT TERNARY_CHAT SHARED_DATA WORK_DIR
# Exit 77 (skipped) without tmux or without ../shared/data.
set -eu
convert=$1 chat=$2 data=$3 work=$4
vocab="$data/tokenizers/llama3/tokenizer.model"
command -v tmux >/dev/null || { echo "SKIPPED: tmux is not installed"; exit 77; }
[ -f "$vocab" ] || { echo "SKIPPED: $vocab is absent"; exit 77; }

mkdir -p "$work"
model="$work/chat-2b4t-llama3.gguf"
# Large enough that a reply (until the 4096-position context is full) lasts seconds.
"$convert" --random "2b4t,dim=256,hidden=512,layers=2,heads=4,kv_heads=1,seq=4096" --tokenizer "$vocab" "$model"

socket="ternary-chat-test-$$"
tmux_() { tmux -L "$socket" "$@"; }
cleanup() { tmux_ kill-server 2>/dev/null || true; rm -f "$model"; }
trap cleanup EXIT
tmux_ new-session -d -s chat -x 160 -y 50 \
  "'$chat' -m '$model' -t 1 --temp 1.0 --system 'Answer briefly.'; echo CHAT-EXITED-\$?; sleep 60"

screen() { tmux_ capture-pane -p -J -S -2000 -t chat; }
# wait_for PATTERN [COUNT]: until the screen shows PATTERN (a fixed string) COUNT times (default 1).
wait_for() {
  count=${2:-1}
  for _ in $(seq 1 600); do
    [ "$(screen | grep -cF -- "$1")" -ge "$count" ] && return 0
    sleep 0.1
  done
  echo "FAILED: waited 60 s for '$1' (x$count); the screen:"; screen; exit 1
}
type_line() { tmux_ send-keys -t chat -l "$1"; tmux_ send-keys -t chat Enter; }
# stop_reply N SECONDS: after SECONDS of streaming, Ctrl-C stops the Nth reply; its statistics line
# ("[... context P/C; stopped]") is left in $stats. A random model's reply may also end by
# itself first (it sampled a stop token; after an interrupted reply the sampler's state depends
# on timing): then the Ctrl-C lands at the prompt, which keeps the session, and the reply's
# statistics line has no "; stopped". Only the first reply, whose tokens do not depend on
# timing, must have been stopped.
stop_reply() {
  sleep "$2"
  tmux_ send-keys -t chat C-c
  wait_for "tokens/s; prompt" "$1"
  stats=$(screen | grep -F "tokens/s; prompt" | sed -n "$1p")
}

wait_for "bitnet template, byte-level BPE tokenizer (128256 tokens), context 4096"
wait_for "> "

# A reply streams; Ctrl-C stops it and the session goes on.
type_line "Hello! Tell me a long story."
stop_reply 1 1.5
first=$stats
echo "first reply: $first"
case "$first" in *"; stopped]"*) ;; *) echo "FAILED: Ctrl-C did not stop the first reply: $first"; screen; exit 1 ;; esac
# Text was streamed between the question and the statistics.
screen | awk '/Tell me a long story/{found=1; next} found && /tokens\/s/{exit} found && length($0) > 0 {text=1} END{exit !text}' \
  || { echo "FAILED: no reply text on screen"; screen; exit 1; }

# The second turn continues the conversation: the context only grows.
type_line "Go on."
stop_reply 2 1.5
second=$stats
echo "second reply: $second"
used() { echo "$1" | sed -n 's/.*context \([0-9]*\)\/4096.*/\1/p'; }
[ "$(used "$second")" -gt "$(used "$first")" ] || { echo "FAILED: the context did not grow across turns"; exit 1; }

# Ctrl-C at the prompt keeps the session; /reset starts over from an empty context.
tmux_ send-keys -t chat C-c
wait_for "(Ctrl-C: /quit or Ctrl-D leaves)"
type_line "/reset"
wait_for "(new conversation)"
type_line "Hi"
stop_reply 3 1
third=$stats
echo "after /reset: $third"
[ "$(used "$third")" -lt "$(used "$second")" ] || { echo "FAILED: /reset did not empty the context"; exit 1; }

type_line "/quit"
wait_for "CHAT-EXITED-0"
echo "ternary-chat: streamed, stopped on Ctrl-C, kept the conversation, reset and quit"
