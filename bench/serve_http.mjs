// The server's speed as clients see it, on loopback: N concurrent streaming clients (decode
// rate in aggregate, over the window where all of them are decoding), and the time to first
// token of a new request while N-1 others decode, against the same request on an idle server.
// Starts and stops the server itself. One JSON object per line.
//
//   node bench/serve_http.mjs build/examples/ternary-server MODEL [clients=16] [threads=2]
// (MODEL carries a tokenizer, e.g. from: ternary-convert --random 2b4t --tokenizer llama3/tokenizer.model OUT)
import { spawn } from 'node:child_process';

const [server, model, clientsArg = '16', threadsArg = '2'] = process.argv.slice(2);
const clients = Number(clientsArg);
if (!server || !model || !(clients >= 2)) {
  console.error('usage: node serve_http.mjs SERVER MODEL [CLIENTS>=2] [THREADS]');
  process.exit(2);
}
const now = () => performance.now() / 1000;

function start() {
  return new Promise((resolve, reject) => {
    const child = spawn(server, ['-m', model, '--port', '0', '-t', threadsArg, '--parallel', String(clients), '--ctx-size',
                                 String(clients * 512), '--int8-head'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve({ child, base: m[1] });
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

/// A streamed completion; returns the arrival time of every token's chunk.
async function stream(base, prompt, maxTokens) {
  const sent = now();
  const res = await fetch(base + '/v1/completions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0, stream: true }),
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const arrivals = [];
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let i;
    while ((i = buffer.indexOf('\n\n')) >= 0) {
      const data = buffer.slice(6, i);
      buffer = buffer.slice(i + 2);
      if (data !== '[DONE]' && JSON.parse(data).choices[0].text !== '') arrivals.push(now());
    }
  }
  return { sent, arrivals };
}

const prompt = (i, words) => Array.from({ length: words }, (_, k) => `word${(i * 31 + k) % 97}`).join(' ');

const { child, base } = await start();
try {
  await stream(base, prompt(0, 8), 4);  // warm
  // 1. N clients at once: tokens that arrive while all N decode, over that window.
  const runs = await Promise.all(Array.from({ length: clients }, (_, i) => stream(base, prompt(i, 8), 48)));
  const from = Math.max(...runs.map((r) => r.arrivals[0])), to = Math.min(...runs.map((r) => r.arrivals.at(-1)));
  const tokens = runs.reduce((n, r) => n + r.arrivals.filter((t) => t > from && t <= to).length, 0);
  console.log(JSON.stringify({ bench: 'serve_http', clients, threads: Number(threadsArg), aggregate_tokens_per_s: +(tokens / (to - from)).toFixed(2),
                               window_s: +(to - from).toFixed(2) }));
  // 2. Time to first token of a 64-word prompt: alone, then while N-1 others decode.
  const alone = [];
  for (let k = 0; k < 3; ++k) {
    const r = await stream(base, prompt(100 + k, 64), 1);
    alone.push(r.arrivals[0] - r.sent);
  }
  const busy = [];
  for (let k = 0; k < 3; ++k) {
    const others = Array.from({ length: clients - 1 }, (_, i) => stream(base, prompt(i, 8), 40));
    await new Promise((r) => setTimeout(r, 1500));  // they are decoding now
    const r = await stream(base, prompt(100 + k, 64), 1);
    busy.push(r.arrivals[0] - r.sent);
    await Promise.all(others);
  }
  const median = (v) => [...v].sort((a, b) => a - b)[1];
  console.log(JSON.stringify({ bench: 'serve_http_ttft', prompt_words: 64, others: clients - 1, ttft_alone_s: +median(alone).toFixed(3),
                               ttft_busy_s: +median(busy).toFixed(3), ratio: +(median(busy) / median(alone)).toFixed(2) }));
} finally {
  child.kill('SIGTERM');
}
