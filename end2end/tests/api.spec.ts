// The public API from the outside: a token created on Settings → API tokens runs an agent
// through /api/v1 (whole and streamed) the way curl would, the run shows in the UI with the
// token's name, and revoking the token stops it. The token's secret is answered once — no
// other response holds it; leaks.spec checks the database and the log for it.
import { expect, test } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { capture, createAgent, hydrated, signUp, uniqueEmail } from './helpers';

test('an API token runs an agent through the REST API, and revoking it stops it', async ({ page, request }) => {
  // A panic in the app (it stops the page) fails the test.
  const crashes: string[] = [];
  page.on('pageerror', (e) => crashes.push(String(e)));
  await signUp(page, 'Api', uniqueEmail('api'));
  const responses = capture(page);
  await createAgent(page, { name: 'Api agent' });
  const agentUrl = page.url();

  await page.goto('/settings/tokens');
  await hydrated(page);
  await page.getByLabel('Name').fill('');
  await page.getByRole('button', { name: 'Create token' }).click();
  await expect(page.locator('#name-error')).toContainText('Name the token');
  await page.getByLabel('Name').fill('e2e');
  await page.getByLabel('read — read agents and runs').check();
  await page.getByRole('button', { name: 'Create token' }).click();
  const shown = page.getByRole('status', { name: 'New token' });
  await expect(shown).toContainText('it will not be shown again');
  const token = (await shown.locator('[data-token]').innerText()).trim();
  expect(token).toMatch(/^gx_[A-Za-z0-9_-]{43}$/);
  fs.writeFileSync(path.join(process.env.GALAXY_E2E_DATA_DIR!, 'e2e-api-token'), token);
  const row = page.locator('tr[data-token-id]', { hasText: 'e2e' });
  await expect(row).toContainText(`${token.slice(0, 9)}…`);
  await expect(row).toContainText('run, read');
  await expect(row).toContainText('active');

  const auth = { Authorization: `Bearer ${token}` };
  const agents = await request.get('/api/v1/agents', { headers: auth });
  expect(agents.status()).toBe(200);
  expect((await agents.json()).data[0].slug).toBe('api-agent');

  const whole = await request.post('/api/v1/agents/api-agent/runs', {
    headers: auth,
    data: { input: 'Hello from the API', mode: 'mock' },
  });
  expect(whole.status()).toBe(200);
  const run = await whole.json();
  expect(run.status).toBe('succeeded');
  expect(run.trigger).toBe('api');
  expect(run.api_token_name).toBe('e2e');

  const streamed = await request.post('/api/v1/agents/api-agent/runs', {
    headers: auth,
    data: { input: 'Hello again', mode: 'mock', stream: true },
  });
  expect(streamed.status()).toBe(200);
  expect(streamed.headers()['content-type']).toContain('text/event-stream');
  const sse = await streamed.text();
  expect(sse).toMatch(/^event: started\ndata: \{"run_id":"[0-9a-f-]{36}"\}/);
  expect(sse).toContain('event: delta');
  expect(sse).toContain('event: finished');

  const detail = await request.get(`/api/v1/runs/${run.id}`, { headers: auth });
  expect(detail.status()).toBe(200);
  expect((await detail.json()).total_tokens).toBe(run.total_tokens);

  // The runs are in the UI, from the API, with the token's name.
  await page.goto(agentUrl);
  await hydrated(page);
  await expect(page.locator('table.runs td[data-trigger="api"]')).toHaveCount(2);
  await expect(page.locator('table.runs td[data-trigger="api"]').first()).toHaveText('api · e2e');

  // Revoked: the next request is refused.
  await page.goto('/settings/tokens');
  await hydrated(page);
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row).toContainText('revoked');
  const refused = await request.get('/api/v1/agents', { headers: auth });
  expect(refused.status()).toBe(401);
  expect((await refused.json()).error.type).toBe('unauthenticated');

  expect(crashes).toEqual([]);
  // Only the creation answered the token.
  const bodies = await responses.check(5);
  const holding = bodies.filter(({ body }) => body.includes(token.slice(3)));
  expect(holding.map(({ url }) => url)).toEqual([expect.stringContaining('/api/create_api_token')]);
});
