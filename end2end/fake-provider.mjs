// A local fake of OpenAI's Chat Completions API for the end-to-end tests: streams a fixed answer
// in the documented SSE shape (with usage in a final chunk), or answers it whole when not asked
// to stream, and lists models. It accepts only the
// canary key in GALAXY_E2E_CANARY and its rotated successor (`<canary>-rotated`), so a run that
// succeeds proves the stored key decrypted correctly.
//
// Some models misbehave on purpose, for the canary test (canary.spec.ts): a provider that repeats
// the caller's key back must never get it shown, stored or logged.
// - `echo-key`: answers 400 with the key in the error message;
// - `echo-stream`: streams the key as part of the answer, split across chunks;
// - `echo-event`: starts streaming, then sends an error event that quotes the key.
// A wrong key gets a 401 whose message quotes it, as some providers do.
import http from 'node:http';

const port = Number(process.env.FAKE_PROVIDER_PORT ?? 3199);
const canary = process.env.GALAXY_E2E_CANARY;
const accepted = new Set([canary, `${canary}-rotated`]);
const words = ['Hello', ' from', ' the', ' fake', ' provider', '.'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.end('ok');
    return;
  }
  const given = (req.headers.authorization ?? '').replace(/^Bearer /, '');
  if (!accepted.has(given)) {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      error: { message: `Incorrect API key provided: ${given}.`, type: 'invalid_request_error', code: 'invalid_api_key' },
    }));
    return;
  }
  if (req.method === 'GET' && req.url === '/v1/models') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model' }] }));
    return;
  }
  if (req.method === 'POST' && req.url === '/v1/chat/completions') {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      const request = JSON.parse(body);
      if (request.model === 'echo-key') {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({
          error: { message: `The key ${given} may not use this model.`, type: 'invalid_request_error' },
        }));
        return;
      }
      if (!request.stream) {
        // Asked whole (a non-streamed API call): the same answer and usage as one JSON body.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({
          id: 'chatcmpl-e2e', object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: request.model,
          choices: [{ index: 0, message: { role: 'assistant', content: words.join('') }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 21, completion_tokens: 9, total_tokens: 30 },
        }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta, finish) =>
        `data: ${JSON.stringify({ id: 'chatcmpl-e2e', object: 'chat.completion.chunk', model: request.model,
          choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      res.write(chunk({ role: 'assistant', content: '' }, null));
      if (request.model === 'echo-event') {
        res.write(chunk({ content: 'Thinking' }, null));
        await sleep(60);
        res.end(`data: ${JSON.stringify({ error: { message: `Key ${given} hit an internal error.`, type: 'invalid_request_error' } })}\n\n`);
        return;
      }
      const pieces = request.model === 'echo-stream'
        ? ['Your key is ', given.slice(0, 10), given.slice(10, 21), given.slice(21), ' and it is safe.']
        : words;
      for (const w of pieces) {
        await sleep(60);
        res.write(chunk({ content: w }, null));
      }
      res.write(chunk({}, 'stop'));
      if (request.stream_options?.include_usage) {
        res.write(`data: ${JSON.stringify({ id: 'chatcmpl-e2e', object: 'chat.completion.chunk', choices: [],
          usage: { prompt_tokens: 21, completion_tokens: 9, total_tokens: 30 } })}\n\n`);
      }
      res.end('data: [DONE]\n\n');
    });
    return;
  }
  res.writeHead(404);
  res.end();
});
server.listen(port, '127.0.0.1');
