# ternary-server as clients use it (server_test.mjs): greedy text equal to ternary-generate's,
# concurrent and streamed requests, cancellation, every bad input and limit, and the official
# OpenAI client for Node (npm package openai, installed into the work directory).
set -eu
server=$1 generate=$2 convert=$3 data=$4 work=$5
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "SKIPPED: node is not installed"; exit 77; }
[ -f "$data/models/bitllama2c-3M/model.bin" ] || { echo "SKIPPED: $data/models/bitllama2c-3M is absent"; exit 77; }
vocab="$data/tokenizers/llama3/tokenizer.model"
[ -f "$vocab" ] || { echo "SKIPPED: $vocab is absent"; exit 77; }
mkdir -p "$work"
openai_modules=""
if [ -d "$work/npm/node_modules/openai" ] || \
   (command -v npm >/dev/null && cd "$work" && mkdir -p npm && timeout 180 npm install --prefix npm --no-audit --no-fund --silent openai@4 >/dev/null 2>&1); then
  openai_modules="$work/npm/node_modules"
fi
# A chat model: random weights with the Llama 3 tokenizer (llama3 template).
chat_model="$work/server-chat.gguf"
[ -f "$chat_model" ] || "$convert" --random "2b4t,dim=128,hidden=256,layers=2,heads=4,kv_heads=1,seq=1024" --tokenizer "$vocab" "$chat_model" >/dev/null
SERVER="$server" GENERATE="$generate" DATA="$data" CHAT_MODEL="$chat_model" OPENAI_MODULES="$openai_modules" \
  node "$here/server_test.mjs"
