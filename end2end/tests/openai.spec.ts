// The OpenAI-compatible endpoint from the outside, with the official Node SDK from npm (`openai`,
// unmodified: only baseURL and apiKey set), the official Python SDK (end2end/sdk_check.py) and curl: a token made on Settings → API tokens runs a
// live agent (against the local fake provider) whole and streamed, the usage the SDK reports is
// the usage recorded on the run, the SDK raises its own error types for Galaxy's errors, and the
// runs show in the UI as `api · <token>`; the agent page's "Call this agent" examples run as shown.
import { expect, test } from '@playwright/test';
import OpenAI from 'openai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createAgent, hydrated, signUp, uniqueEmail } from './helpers';

const canary = process.env.GALAXY_E2E_CANARY!;
const dataDir = process.env.GALAXY_E2E_DATA_DIR!;
const usage = { prompt_tokens: 21, completion_tokens: 9, total_tokens: 30 };

test('the official OpenAI SDK and curl run an agent with a token made in the UI', async ({ page, baseURL }) => {
  const crashes: string[] = [];
  page.on('pageerror', (e) => crashes.push(String(e)));
  await signUp(page, 'Sdk', uniqueEmail('sdk'));

  // A live key (the fake provider accepts the canary) and an agent.
  await page.goto('/settings/keys');
  await hydrated(page);
  await page.getByLabel('Label').fill('sdk');
  await page.getByLabel('API key').fill(canary);
  await page.getByRole('button', { name: 'Save key' }).click();
  await expect(page.getByRole('status')).toContainText(`ending in …${canary.slice(-4)}`);
  await createAgent(page, { name: 'Sdk agent' });
  const agentUrl = page.url();

  await page.goto('/settings/tokens');
  await hydrated(page);
  await page.getByLabel('Name').fill('sdk-e2e');
  await page.getByLabel('read — read agents and runs').check();
  await page.getByRole('button', { name: 'Create token' }).click();
  const shown = page.getByRole('status', { name: 'New token' });
  await expect(shown).toContainText('it will not be shown again');
  const token = (await shown.locator('[data-token]').innerText()).trim();
  // leaks.spec looks for it in the database and the log afterwards.
  fs.writeFileSync(path.join(dataDir, 'e2e-sdk-token'), token);

  const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: token });
  const models = await client.models.list();
  expect(models.data.map((m) => m.id)).toEqual(['agent/sdk-agent']);

  // Whole.
  const completion = await client.chat.completions.create({
    model: 'agent/sdk-agent',
    messages: [{ role: 'user', content: 'Greet the tester.' }],
  });
  expect(completion.object).toBe('chat.completion');
  expect(completion.choices).toHaveLength(1);
  expect(completion.choices[0].message.role).toBe('assistant');
  expect(completion.choices[0].message.content).toBe('Hello from the fake provider.');
  expect(completion.choices[0].finish_reason).toBe('stop');
  expect(completion.usage).toMatchObject(usage);
  const wholeId = completion.id.replace(/^chatcmpl-/, '');

  // Streamed, with usage in the last chunk.
  const stream = await client.chat.completions.create({
    model: 'agent/sdk-agent',
    messages: [
      { role: 'system', content: 'Be cheerful.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'Greet the tester again.' },
    ],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish: string | null = null;
  let streamedUsage: OpenAI.CompletionUsage | undefined;
  let streamId = '';
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    streamId = chunk.id.replace(/^chatcmpl-/, '');
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) streamedUsage = chunk.usage;
  }
  expect(text).toBe('Hello from the fake provider.');
  expect(chunks).toBeGreaterThan(3);
  expect(finish).toBe('stop');
  expect(streamedUsage).toMatchObject(usage);

  // The SDK raises its own error types for Galaxy's errors (and does not retry them).
  await expect(
    client.chat.completions.create({ model: 'agent/no-such-agent', messages: [{ role: 'user', content: 'x' }] }),
  ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  await expect(
    client.chat.completions.create({ model: 'agent/sdk-agent', messages: [{ role: 'assistant', content: 'x' }] }),
  ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  const stranger = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'gx_not-a-token', maxRetries: 0 });
  await expect(stranger.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

  // The official Python SDK too (pinned in end2end/requirements.txt; .ci/test installs it).
  const python = process.env.GALAXY_E2E_PYTHON;
  expect(python, 'GALAXY_E2E_PYTHON: a Python with the openai package (.ci/test sets it)').toBeTruthy();
  const fromPython = JSON.parse(execFileSync(python!, [path.join(__dirname, '../sdk_check.py'), `${baseURL}/v1`, 'agent/sdk-agent'],
    { env: { ...process.env, GALAXY_TOKEN: token } }).toString());
  expect(fromPython.whole).toMatchObject({ content: 'Hello from the fake provider.', finish_reason: 'stop', usage });
  expect(fromPython.stream).toMatchObject({ content: 'Hello from the fake provider.', finish_reason: 'stop', usage });
  expect(fromPython.stream.ids).toHaveLength(1);
  expect(fromPython.missing).toBe('model_not_found');
  const pythonIds = [fromPython.whole.id, fromPython.stream.ids[0]].map((id: string) => id.replace(/^chatcmpl-/, ''));

  // curl, through the REST API, whole and streamed.
  const curl = (...args: string[]) =>
    execFileSync('curl', ['-sS', '-H', `Authorization: Bearer ${token}`, '-H', 'Content-Type: application/json', ...args])
      .toString();
  const ran = JSON.parse(curl('-d', '{"input": "Greet the tester.", "stream": false}', `${baseURL}/api/v1/agents/sdk-agent/runs`));
  expect(ran).toMatchObject({ status: 'succeeded', trigger: 'api', api_token_name: 'sdk-e2e', output: 'Hello from the fake provider.', ...usage });
  const sse = curl('-N', '-d', '{"input": "Greet the tester.", "stream": true}', `${baseURL}/api/v1/agents/sdk-agent/runs`);
  expect(sse).toMatch(/^event: started\n/);
  expect(sse).toContain('event: delta\ndata: {"text":"Hello"}');
  expect(sse).toContain('event: finished');

  // What the SDK reported is what the runs recorded, with trigger api and the token's name.
  const rows = execFileSync('sqlite3', [
    path.join(dataDir, 'galaxy.db'),
    `SELECT id, mode, run_trigger, api_token_name, status, prompt_tokens, completion_tokens, total_tokens
       FROM runs WHERE id IN ('${[wholeId, streamId, ...pythonIds].join("', '")}') ORDER BY created_at`,
  ]).toString().trim().split('\n');
  expect(rows).toEqual([wholeId, streamId, ...pythonIds].map((id) => `${id}|live|api|sdk-e2e|succeeded|21|9|30`));

  // The agent's page shows how to call it; its curl and JavaScript examples work as shown,
  // with the token exported as GALAXY_TOKEN.
  await page.goto(agentUrl);
  await hydrated(page);
  const call = page.getByRole('region', { name: 'Call this agent' });
  await expect(call.locator('[data-slug]')).toHaveText('sdk-agent');
  await expect(call).toContainText('Any text.');
  const curlExample = await call.locator('[data-example="curl"]').innerText();
  expect(curlExample).toContain(`${baseURL}/api/v1/agents/sdk-agent/runs`);
  expect(curlExample).not.toContain(token);
  const pythonExample = await call.locator('[data-example="python"]').innerText();
  expect(pythonExample).toContain(`base_url="${baseURL}/v1"`);
  expect(pythonExample).toContain('model="agent/sdk-agent"');
  const env = { ...process.env, GALAXY_TOKEN: token };
  const fromCurl = JSON.parse(execFileSync('bash', ['-c', curlExample], { env }).toString());
  expect(fromCurl).toMatchObject({ status: 'succeeded', input: 'Hello!', api_token_name: 'sdk-e2e' });
  const script = path.join(dataDir, 'call-example.mjs');
  fs.writeFileSync(script, await call.locator('[data-example="javascript"]').innerText());
  expect(execFileSync('node', [script], { env }).toString().trim()).toBe('Hello from the fake provider.');

  // The page's Python example runs as shown, with the same SDK.
  const pyScript = path.join(dataDir, 'call-example.py');
  fs.writeFileSync(pyScript, pythonExample);
  expect(execFileSync(python!, [pyScript], { env }).toString().trim()).toBe('Hello from the fake provider.');

  // In the UI: nine runs from the API, each with the token's name.
  await page.goto(agentUrl);
  await hydrated(page);
  const fromApi = page.locator('table.runs td[data-trigger="api"]');
  await expect(fromApi).toHaveCount(9);
  for (const cell of await fromApi.all()) await expect(cell).toHaveText('api · sdk-e2e');
  expect(crashes).toEqual([]);
});
