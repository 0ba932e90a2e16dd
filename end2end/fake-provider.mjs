// A local fake of OpenAI's Chat Completions API for the end-to-end tests: streams a fixed answer
// in the documented SSE shape (with usage in a final chunk) and lists models. It accepts only the
// key in GALAXY_E2E_CANARY, so a run that succeeds proves the stored key decrypted correctly.
import http from 'node:http';

const port = Number(process.env.FAKE_PROVIDER_PORT ?? 3199);
const key = process.env.GALAXY_E2E_CANARY;
const words = ['Hello', ' from', ' the', ' fake', ' provider', '.'];

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.end('ok');
    return;
  }
  if (req.headers.authorization !== `Bearer ${key}`) {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'Incorrect API key provided.', type: 'invalid_request_error' } }));
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
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta, finish) =>
        `data: ${JSON.stringify({ id: 'chatcmpl-e2e', object: 'chat.completion.chunk', model: request.model,
          choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      res.write(chunk({ role: 'assistant', content: '' }, null));
      for (const w of words) {
        await new Promise((r) => setTimeout(r, 60));
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
