import { expect, Page, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { createAgent, fillSchema, hydrated, signUp, uniqueEmail } from './helpers';

test('sign up, create an agent, run it in mock mode, and find it all after a reload', async ({ page }) => {
  await signUp(page, 'Ada', uniqueEmail('ada'));
  await expect(page.locator('[data-stat="agents"]')).toHaveText('0');

  await createAgent(page, {
    name: 'Ticket triage',
    outputSchema: JSON.stringify({
      type: 'object',
      properties: { label: { enum: ['bug', 'question'] }, confidence: { type: 'number', minimum: 0, maximum: 1 } },
      required: ['label', 'confidence'],
    }),
  });

  const panel = page.locator('section.test-panel');
  await panel.getByLabel('Input').fill('The app crashes when I click save.');
  await panel.getByRole('button', { name: 'Run' }).click();

  const result = panel.locator('.run-result');
  await expect(result.locator('[data-status="succeeded"]')).toBeVisible();
  const output = JSON.parse(await result.getByLabel('Output').innerText());
  expect(['bug', 'question']).toContain(output.label);
  expect(output.confidence).toBeGreaterThanOrEqual(0);
  expect(output.confidence).toBeLessThanOrEqual(1);
  const prompt = Number(await result.locator('[data-metric="prompt_tokens"]').innerText());
  const completion = Number(await result.locator('[data-metric="completion_tokens"]').innerText());
  const total = Number(await result.locator('[data-metric="total_tokens"]').innerText());
  expect(prompt).toBeGreaterThan(0);
  expect(completion).toBeGreaterThan(0);
  expect(total).toBe(prompt + completion);
  await expect(result.locator('[data-metric="latency_ms"]')).toHaveText(/^\d+ ms$/);
  // Mock runs carry an estimated cost at the model's list price (gpt-4o-mini is priced).
  await expect(result.locator('[data-metric="cost"]')).toHaveText(/^\$\d+\.\d{6}$/);
  await expect(result.locator('[data-metric="cost_source"]')).toHaveText('estimated');
  const runId = await result.getAttribute('data-run-id');

  // The run is listed under the agent, and survives a reload (it is in the database).
  await expect(panel.locator(`tr[data-run-id="${runId}"]`)).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(page.locator(`section.test-panel tr[data-run-id="${runId}"]`)).toBeVisible();
  await expect(page.locator(`tr[data-run-id="${runId}"] [data-status="succeeded"]`)).toBeVisible();

  // The dashboard counts come from the database.
  await page.goto('/');
  await expect(page.locator('[data-stat="agents"]')).toHaveText('1');
  await expect(page.locator('[data-stat="runs"]')).toHaveText('1');
  await expect(page.locator('[data-stat="tokens"]')).toHaveText(String(total));
  await expect(page.locator(`tr[data-run-id="${runId}"]`)).toContainText('Ticket triage');

  // The dashboard's quick run takes the same streamed path and is recorded as a dashboard run.
  await hydrated(page);
  // Its form is a lazily loaded module of its own: the panel opens it.
  const quick = page.locator('section.quick-run');
  await quick.getByRole('button', { name: 'Open quick run' }).click();
  await quick.getByLabel('Input').fill('From the dashboard');
  await quick.getByRole('button', { name: 'Run' }).click();
  await expect(quick.locator('.run-result [data-status="succeeded"]')).toBeVisible();
  await expect(page.locator('[data-stat="runs"]')).toHaveText('2');
  const quickId = await quick.locator('.run-result').getAttribute('data-run-id');
  const trigger = execFileSync('sqlite3', [
    path.join(process.env.GALAXY_E2E_DATA_DIR!, 'galaxy.db'),
    `SELECT run_trigger FROM runs WHERE id = '${quickId}'`,
  ]).toString().trim();
  expect(trigger).toBe('dashboard');

  // And the agents list shows it.
  await page.getByRole('navigation').getByRole('link', { name: 'Agents' }).click();
  // The list's module is fetched first (the dashboard stays until it is in).
  await expect(page.getByRole('heading', { name: 'Agents', level: 1 })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Ticket triage' })).toBeVisible();
});

test('invalid agent form shows field errors and saves nothing', async ({ page }) => {
  await signUp(page, 'Grace', uniqueEmail('grace'));
  await page.goto('/agents/new');
  await hydrated(page);
  await page.getByLabel('Model').fill('gpt 4o');
  await page.getByLabel('Temperature').fill('3');
  await page.getByLabel('Max tokens').fill('zero');
  await fillSchema(page, 'output', '{"type": ');
  await page.getByRole('button', { name: 'Create agent' }).click();

  await expect(page.locator('#name-error')).toHaveText('Give the agent a name.');
  await expect(page.locator('#model-error')).toHaveText('A model name has no spaces.');
  await expect(page.locator('#temperature-error')).toHaveText('Enter a number from 0 to 2.');
  await expect(page.locator('#max_tokens-error')).toContainText('whole number');
  await expect(page.locator('#output_schema-error')).toContainText('not valid JSON');
  await expect(page.getByLabel('Name')).toHaveAttribute('aria-invalid', 'true');
  await expect(page).toHaveURL(/\/agents\/new$/);

  // Fixing the fields in the browser still meets the server's own checks: a schema that parses but
  // is not a valid JSON Schema is refused by the server, on its field.
  await page.getByLabel('Name').fill('Checked');
  await page.getByLabel('Model').fill('gpt-4o');
  await page.getByLabel('Temperature').fill('0.3');
  await page.getByLabel('Max tokens').fill('200');
  await fillSchema(page, 'output', '{"type": "strin"}');
  await page.getByRole('button', { name: 'Create agent' }).click();
  await expect(page.locator('#output_schema-error')).toContainText('not a valid JSON Schema');
  await expect(page.locator('#name-error')).toHaveCount(0);

  // A duplicate name is refused by the server on the name field.
  await fillSchema(page, 'output', '');
  await page.getByRole('button', { name: 'Create agent' }).click();
  await expect(page).toHaveURL(/\/agents\/[0-9a-f-]{36}$/);
  await page.goto('/agents/new');
  await hydrated(page);
  await page.getByLabel('Name').fill('checked');
  await page.getByRole('button', { name: 'Create agent' }).click();
  await expect(page.locator('#name-error')).toContainText('already exists');

  await page.goto('/agents');
  await expect(page.locator('table.agents tbody tr')).toHaveCount(1);
});

test('editing saves a new version and deleting keeps the runs on record', async ({ page }) => {
  await signUp(page, 'Linus', uniqueEmail('linus'));
  await createAgent(page, { name: 'Drafts' });
  const panel = page.locator('section.test-panel');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();

  await page.getByLabel('Name').fill('Drafts v2');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByRole('status')).toHaveText('Saved as version 2.');
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Drafts v2', level: 1 })).toBeVisible();
  await expect(page.getByText(/version 2 ·/)).toBeVisible();

  await hydrated(page);
  await page.getByText('Delete this agent…').click();
  await page.getByRole('button', { name: 'Delete permanently' }).click();
  await expect(page).toHaveURL(/\/agents$/);
  await expect(page.getByText('No agents yet.')).toBeVisible();
  await page.goto('/');
  await expect(page.locator('[data-stat="runs"]')).toHaveText('1');
  await expect(page.locator('table.runs')).toContainText('Drafts');
});

// The agent page's builder and test panel are deferred parts (app/src/deferred.rs): drawn by
// the server, their module fetched on first use. The service worker is kept out: a module it
// serves from its cache could not be held back.
test.describe('deferred parts', () => {
test.use({ serviceWorkers: 'block' });

/** Holds the workbench module back until `release()`: what a visitor does meanwhile is what a
 * visitor on a slow connection does before it arrives. `asked()` counts its fetches. */
async function holdWorkbench(page: Page) {
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  let asked = 0;
  await page.route(/\/pkg\/split_workbench\./, async (route) => {
    asked += 1;
    await held;
    await route.continue();
  });
  return { release, asked: () => asked };
}

test("an agent page's builder and test panel start on first use, keeping what was typed and clicked meanwhile", async ({ page }) => {
  await signUp(page, 'Deferred', uniqueEmail('deferred'));
  await createAgent(page, { name: 'Deferred agent' });
  const agentUrl = page.url();
  const { release, asked } = await holdWorkbench(page);
  const runs: string[] = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/api/run_agent_stream')) runs.push(r.postData() ?? '');
  });
  await page.goto(agentUrl);
  await hydrated(page);
  const part = page.locator('[data-part="agent"]');
  // Drawn by the server, not started: the module is not asked for until the part is used.
  await expect(page.locator('section.test-panel').getByLabel('Input')).toBeVisible();
  await page.waitForTimeout(500);
  await expect(part).not.toHaveAttribute('data-live', 'true');
  expect(asked()).toBe(0);

  const name = page.getByLabel('Name');
  await name.click();
  await page.keyboard.press('End');
  await page.keyboard.type(' (renamed)');
  // A button that does not submit: the input schema editor's JSON tab.
  const editor = page.locator('[data-schema="input_schema"]');
  await editor.getByRole('tab', { name: 'JSON' }).click();
  const panel = page.locator('section.test-panel');
  await panel.getByLabel('Input').fill('Typed before the code came.');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect.poll(asked).toBe(1);
  await expect(part).toHaveAttribute('aria-busy', 'true');
  // Held: nothing ran, the server's markup shows what was typed.
  expect(runs).toEqual([]);
  await expect(part).not.toHaveAttribute('data-live', 'true');

  await expect(editor.locator('[data-json="input_schema"]')).toHaveCount(0);
  release();
  await expect(part).toHaveAttribute('data-live', 'true');
  await expect(part).not.toHaveAttribute('aria-busy', 'true');
  // The click on the tab was replayed: the editor shows its JSON.
  await expect(editor.locator('[data-json="input_schema"]')).toBeVisible();
  // The click on Run was carried over: the run went with the typed input, and succeeded.
  await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();
  expect(runs).toHaveLength(1);
  expect(decodeURIComponent(runs[0].replace(/\+/g, ' '))).toContain('Typed before the code came.');
  // The builder kept its edit, in its live form: saving it makes a new version with that name.
  await expect(name).toHaveValue('Deferred agent (renamed)');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByRole('status')).toContainText('Saved as version 2');
  await page.reload();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Deferred agent (renamed)');
});

test('a field focused before the code arrives keeps the focus and the caret', async ({ page }) => {
  await signUp(page, 'Caret', uniqueEmail('caret'));
  await createAgent(page, { name: 'Caret agent' });
  const agentUrl = page.url();
  const { release } = await holdWorkbench(page);
  const asked: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/')) asked.push(new URL(r.url()).pathname);
  });
  await page.goto(agentUrl);
  await hydrated(page);
  asked.length = 0;
  const description = page.getByLabel('Description');
  await description.click();
  await page.keyboard.type('first half');
  // The caret in the middle: between "first" and " half".
  for (let i = 0; i < ' half'.length; i++) await page.keyboard.press('ArrowLeft');
  release();
  await expect(page.locator('[data-part="agent"]')).toHaveAttribute('data-live', 'true');
  // Still in the same field, the caret where it was: typing goes on there.
  await page.keyboard.type(' and second');
  await expect(description).toHaveValue('first and second half');
  await expect(description).toBeFocused();
  // The live part started from the server's data: not one request for it.
  await page.waitForTimeout(700);
  expect(asked).toEqual([]);
});

test('a part whose module does not come says so, and its page still reads', async ({ page }) => {
  await signUp(page, 'Gone', uniqueEmail('gone'));
  await createAgent(page, { name: 'Gone agent' });
  const agentUrl = page.url();
  await page.route(/\/pkg\/split_workbench\./, (r) => r.fulfill({ status: 404, body: 'Not Found' }));
  await page.goto(agentUrl);
  await hydrated(page);
  await page.getByLabel('Description').click();
  const part = page.locator('[data-part="agent"]');
  await expect(part.getByRole('alert')).toContainText('This part of the page could not be loaded');
  // The server's markup is still there, and the rest of the page works.
  await expect(page.getByRole('heading', { name: 'Gone agent', level: 1 })).toBeVisible();
  await expect(part).not.toHaveAttribute('data-live', 'true');
  await page.unroute(/\/pkg\/split_workbench\./);
  await part.getByRole('link', { name: 'reload of the page' }).click();
  await hydrated(page);
  await page.getByLabel('Description').click();
  await expect(part).toHaveAttribute('data-live', 'true');
  await expect(part.getByRole('alert')).toHaveCount(0);
});
});
