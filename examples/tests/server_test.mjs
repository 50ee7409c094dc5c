// ternary-server driven as clients drive it: plain HTTP (Node's fetch) and, when it is
// installed, the official OpenAI client for Node, unchanged. Run by server.sh, which passes
// the programs and files in the environment. Every server is started and stopped here, on
// 127.0.0.1 and a free port; every wait is bounded. Exits non-zero on the first failure.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const env = process.env;
const model = `${env.DATA}/models/bitllama2c-3M/model.bin`;
const tokenizer = `${env.DATA}/models/bitllama2c-3M/tokenizer.bin`;
const servers = [];
setTimeout(() => { console.error('FAILED: the test took over 240 s'); stop(); process.exit(1); }, 240_000).unref();

function stop() { for (const s of servers) s.kill('SIGTERM'); }

/// Starts ternary-server with `args`; resolves to its base URL once it listens.
function start(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(env.SERVER, ['--port', '0', '-t', '2', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    servers.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error('the server did not start in 30 s')), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the server exited with ${code}: ${out}`)); });
  });
}

async function post(base, path, body, headers = {}) {
  const res = await fetch(base + path, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body), signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* a stream, or not JSON */ }
  return { status: res.status, text, json };
}

async function healthy(base) {
  const res = await fetch(base + '/health', { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  return res.json();
}

/// The text of a streamed completion (its deltas joined) and its last chunk's finish_reason.
async function streamed(base, body, { abortAfter = 0, signal } = {}) {
  const controller = new AbortController();
  const res = await fetch(base + '/v1/completions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }),
    signal: signal ?? controller.signal,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/event-stream/);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '', text = '', finish = null, done = false, chunks = 0;
  while (!done) {
    const { value, done: end } = await reader.read();
    if (end) break;
    buffer += decoder.decode(value, { stream: true });
    let i;
    while ((i = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      assert.ok(event.startsWith('data: '), `an SSE event: ${event}`);
      const data = event.slice(6);
      if (data === '[DONE]') { done = true; break; }
      const chunk = JSON.parse(data);
      assert.equal(chunk.object, 'text_completion');
      text += chunk.choices[0].text;
      finish = chunk.choices[0].finish_reason ?? finish;
      if (abortAfter && ++chunks === abortAfter) { controller.abort(); return { text, finish: 'aborted' }; }
    }
  }
  assert.ok(done, 'the stream ends with [DONE]');
  return { text, finish };
}

const prompts = ['Once upon a time', 'The little dog', 'Tom and Sue went to the park', 'One day, a bird',
                 'Lily liked to', 'There was a big', 'Sam had a red ball', 'The sun was'];

async function main() {
  const base = await start(['-m', model, '-z', tokenizer, '--parallel', '8']);
  console.log(`server at ${base}`);

  // 1. Greedy /v1/completions gives exactly what ternary-generate --temp 0 prints after the prompt.
  const probe = await post(base, '/v1/completions', { prompt: prompts[0], max_tokens: 1, temperature: 0 });
  assert.equal(probe.status, 200, probe.text);
  const promptTokens = probe.json.usage.prompt_tokens;
  const steps = 100;  // ternary-generate -n: positions, the prompt (with BOS) included
  const generated = execFileSync(env.GENERATE, ['-m', model, '-z', tokenizer, '-p', prompts[0], '--temp', '0', '-n', String(steps), '-t', '2'],
                                 { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
  assert.ok(generated.startsWith(prompts[0]), generated);
  const expected = generated.slice(prompts[0].length).replace(/\n$/, '');
  assert.ok(expected.length > 100, 'ternary-generate wrote a story');
  const greedy = await post(base, '/v1/completions', { prompt: prompts[0], max_tokens: steps + 1 - promptTokens, temperature: 0 });
  assert.equal(greedy.status, 200, greedy.text);
  assert.equal(greedy.json.choices[0].text, expected);
  assert.equal(greedy.json.object, 'text_completion');
  assert.equal(greedy.json.usage.prompt_tokens, promptTokens);
  assert.equal(greedy.json.usage.total_tokens, promptTokens + greedy.json.usage.completion_tokens);
  console.log('ok: greedy completion equals ternary-generate --temp 0');

  // 2. Eight concurrent greedy requests: each its single-request text.
  const alone = [];
  for (const prompt of prompts) {
    const r = await post(base, '/v1/completions', { prompt, max_tokens: 48, temperature: 0 });
    assert.equal(r.status, 200, r.text);
    alone.push(r.json.choices[0].text);
  }
  const together = await Promise.all(prompts.map((prompt) => post(base, '/v1/completions', { prompt, max_tokens: 48, temperature: 0 })));
  together.forEach((r, i) => assert.equal(r.json.choices[0].text, alone[i], `prompt ${i} in a batch of 8`));
  console.log('ok: 8 concurrent requests each give their single-request text');

  // 3. Streaming gives the same text as not streaming; with a seed, sampling is reproducible.
  const s = await streamed(base, { prompt: prompts[1], max_tokens: 48, temperature: 0 });
  assert.equal(s.text, alone[1]);
  assert.equal(s.finish, 'length');
  const seeded = { prompt: prompts[2], max_tokens: 30, temperature: 0.8, seed: 7 };
  const a = await post(base, '/v1/completions', seeded), b = await streamed(base, seeded);
  assert.equal(b.text, a.json.choices[0].text);
  console.log('ok: streamed text equals the whole response');

  // 4. A stop string ends the text before it, streamed or not.
  const cut = alone[0].indexOf(' ', 10);
  const stopString = alone[0].slice(cut, cut + 4);
  const stopped = await post(base, '/v1/completions', { prompt: prompts[0], max_tokens: 48, temperature: 0, stop: [stopString] });
  assert.equal(stopped.json.choices[0].text, alone[0].slice(0, alone[0].indexOf(stopString)));
  assert.equal(stopped.json.choices[0].finish_reason, 'stop');
  const stoppedStream = await streamed(base, { prompt: prompts[0], max_tokens: 48, temperature: 0, stop: stopString });
  assert.equal(stoppedStream.text, stopped.json.choices[0].text);
  console.log('ok: stop strings');

  // 5. Cancelling one stream leaves the others intact, and frees its slot.
  const long = { max_tokens: 200, temperature: 0 };
  const reference = await Promise.all([3, 4].map((i) => post(base, '/v1/completions', { prompt: prompts[i], ...long })));
  const [cancelled, ...kept] = await Promise.all([
    streamed(base, { prompt: prompts[5], ...long }, { abortAfter: 3 }),
    streamed(base, { prompt: prompts[3], ...long }),
    streamed(base, { prompt: prompts[4], ...long }),
  ]);
  assert.equal(cancelled.finish, 'aborted');
  kept.forEach((k, i) => assert.equal(k.text, reference[i].json.choices[0].text));
  let health;
  for (let i = 0; i < 50; ++i) {
    health = await healthy(base);
    if (health.active === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(health.active, 0, 'the cancelled request left');
  console.log('ok: a cancelled stream leaves the others intact');

  // 6. Bad input: a clear error with its status, and the server keeps serving.
  const bad = [
    ['not JSON', '{"prompt": ', 400, 'invalid_json'],
    ['wrong type', { prompt: 5 }, 400, 'invalid_type'],
    ['missing prompt', {}, 400, 'missing_field'],
    ['unknown model', { model: 'gpt-9', prompt: 'a' }, 404, 'model_not_found'],
    ['max_tokens 0', { prompt: 'a', max_tokens: 0 }, 400, 'invalid_value'],
    ['max_tokens -3', { prompt: 'a', max_tokens: -3 }, 400, 'invalid_value'],
    ['max_tokens past the context', { prompt: 'a', max_tokens: 100000 }, 400, 'context_length_exceeded'],
    ['a prompt longer than the context', { prompt: 'the cat sat. '.repeat(400) }, 400, 'context_length_exceeded'],
    ['temperature 9', { prompt: 'a', temperature: 9 }, 400, 'invalid_value'],
    ['n 2', { prompt: 'a', n: 2 }, 400, 'invalid_value'],
    ['stop of a number', { prompt: 'a', stop: 3 }, 400, 'invalid_type'],
  ];
  for (const [what, body, status, code] of bad) {
    const r = await post(base, '/v1/completions', body);
    assert.equal(r.status, status, `${what}: ${r.text}`);
    assert.equal(r.json.error.code, code, `${what}: ${r.text}`);
    assert.ok(r.json.error.message.length > 0);
    assert.equal((await healthy(base)).status, 'ok');
  }
  const noMessages = await post(base, '/v1/chat/completions', { messages: [] });
  assert.equal(noMessages.status, 400, noMessages.text);
  const notFound = await fetch(base + '/v2/nothing');
  assert.equal(notFound.status, 404);
  console.log('ok: bad input gets its error; the server keeps serving');

  // 7. Limits: the body size (413), the queue (503), the API key (401), on a small server.
  const limited = await start(['-m', model, '-z', tokenizer, '--parallel', '1', '--queue', '1', '--max-body', '2000', '--api-key', 'sesame']);
  const key = { Authorization: 'Bearer sesame' };
  assert.equal((await post(limited, '/v1/completions', { prompt: 'a', max_tokens: 2 })).status, 401);
  assert.equal((await post(limited, '/v1/completions', { prompt: 'a', max_tokens: 2 }, { Authorization: 'Bearer nope' })).status, 401);
  assert.equal((await fetch(limited + '/health')).status, 200);
  const big = await post(limited, '/v1/completions', { prompt: 'x'.repeat(5000) }, key);
  assert.equal(big.status, 413, big.text);
  const busy = await Promise.all([1, 2, 3, 4].map(() => post(limited, '/v1/completions', { prompt: 'Once', max_tokens: 150, temperature: 0 }, key)));
  const statuses = busy.map((r) => r.status).sort();
  assert.ok(statuses.includes(200) && statuses.includes(503), `one decodes, one waits, the rest are refused: ${statuses}`);
  const refused = busy.find((r) => r.status === 503);
  assert.equal(refused.json.error.code, 'server_busy');
  assert.equal((await post(limited, '/v1/completions', { prompt: 'a', max_tokens: 2 }, key)).status, 200);
  console.log('ok: 401, 413 and 503, and the server still answers');

  // 8. The official OpenAI client for Node: a chat completion, a streamed completion, an error.
  if (!env.OPENAI_MODULES) {
    console.log('SKIPPED: the openai npm package could not be installed; the client test did not run');
  } else {
    const require = createRequire(env.OPENAI_MODULES + '/');
    const OpenAI = require('openai');
    const chatBase = await start(['-m', env.CHAT_MODEL, '--parallel', '2', '--api-key', 'k']);
    const client = new OpenAI({ baseURL: chatBase + '/v1', apiKey: 'k', timeout: 60_000, maxRetries: 0 });
    const models = await client.models.list();
    assert.equal(models.data.length, 1);
    const chat = await client.chat.completions.create({
      model: models.data[0].id, messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: 'Hello!' }],
      max_tokens: 12, temperature: 0.7, seed: 1,
    });
    assert.equal(chat.object, 'chat.completion');
    assert.equal(chat.choices[0].message.role, 'assistant');
    assert.equal(typeof chat.choices[0].message.content, 'string');
    assert.ok(['stop', 'length'].includes(chat.choices[0].finish_reason));
    assert.ok(chat.usage.prompt_tokens > 5 && chat.usage.completion_tokens >= 1);
    const pieces = [];
    const stream = await client.chat.completions.create({
      model: models.data[0].id, messages: [{ role: 'user', content: 'Hello!' }], max_tokens: 12, temperature: 0.7, seed: 1,
      stream: true, stream_options: { include_usage: true },
    });
    let usage = null;
    for await (const chunk of stream) {
      if (chunk.choices.length > 0) pieces.push(chunk.choices[0].delta.content ?? '');
      if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(usage && usage.completion_tokens >= 1, 'the streamed usage chunk');
    const whole = await client.chat.completions.create({
      model: models.data[0].id, messages: [{ role: 'user', content: 'Hello!' }], max_tokens: 12, temperature: 0.7, seed: 1,
    });
    assert.equal(pieces.join(''), whole.choices[0].message.content, 'streamed and whole chat replies agree');
    const completion = await client.completions.create({ model: models.data[0].id, prompt: 'Hi', max_tokens: 5, stream: true });
    let streamedText = '';
    for await (const chunk of completion) streamedText += chunk.choices[0].text;
    assert.equal(typeof streamedText, 'string');
    await assert.rejects(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
                         (e) => e.status === 404 && /does not exist/.test(e.message));
    await assert.rejects(new OpenAI({ baseURL: chatBase + '/v1', apiKey: 'wrong', maxRetries: 0 }).models.list(), (e) => e.status === 401);
    console.log('ok: the openai client (chat, streams, errors)');
  }
  stop();
}

main().then(() => { console.log('server tests passed'); process.exit(0); },
            (e) => { console.error('FAILED:', e); stop(); process.exit(1); });
