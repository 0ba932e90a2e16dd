// Live mode against a local fake provider: add a key, test it, run an agent live with streamed
// output, find the run in the database with the same tokens. (canary.spec and leaks.spec check
// that the key never shows up in plain text.)
import { expect, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { capture, createAgent, hydrated, signUp, uniqueEmail } from './helpers';

const canary = process.env.GALAXY_E2E_CANARY!;
const dataDir = process.env.GALAXY_E2E_DATA_DIR!;

test.describe.serial('live mode', () => {
  test('add a key, test it, run an agent live with streamed output', async ({ page }) => {
    await signUp(page, 'Live', uniqueEmail('live'));
    // Sign-up navigates by itself; everything after it is read.
    const responses = capture(page);

    await page.goto('/settings/keys');
    await hydrated(page);
    await page.getByLabel('Label').fill('e2e');
    await page.getByLabel('API key').fill(canary);
    await page.getByRole('button', { name: 'Save key' }).click();
    await expect(page.getByRole('status')).toContainText(`ending in …${canary.slice(-4)}`);
    await expect(page.getByLabel('API key')).toHaveValue('');
    const row = page.locator('tr[data-key-id]');
    await expect(row).toContainText('e2e');
    await expect(row).toContainText(`…${canary.slice(-4)}`);
    await row.getByRole('button', { name: 'Test' }).click();
    await expect(page.getByText('The provider accepted the key.')).toBeVisible();
    await expect(row).toContainText('test passed');

    await createAgent(page, { name: 'Live agent' });
    const panel = page.locator('section.test-panel');
    const live = panel.getByLabel('Live (OpenAI)');
    await expect(live).toBeEnabled();
    await live.check();
    await panel.getByLabel('Input').fill('Greet the tester.');
    await panel.getByRole('button', { name: 'Run' }).click();

    // Tokens arrive one by one: the partial text shows before the run is finished.
    const streaming = panel.getByLabel('Streaming output');
    await expect(streaming).toContainText('Hello from');
    await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();
    const result = panel.locator('.run-result');
    await expect(result.getByLabel('Output')).toHaveText('Hello from the fake provider.');
    await expect(result.locator('[data-metric="prompt_tokens"]')).toHaveText('21');
    await expect(result.locator('[data-metric="completion_tokens"]')).toHaveText('9');
    await expect(result.locator('[data-metric="total_tokens"]')).toHaveText('30');
    await expect(result.locator('[data-metric="cost_source"]')).toHaveText('provider_usage');
    // gpt-4o-mini: 21 × $0.15/M + 9 × $0.60/M = 8.55 µ$ → 9 µ$ (rounded up).
    await expect(result.locator('[data-metric="cost"]')).toHaveText('$0.000009');
    await expect(result.locator('[data-metric="attempts"]')).toHaveText('1');
    await expect(result.locator('[data-metric="ttft_ms"]')).toHaveText(/^\d+ ms$/);
    const runId = await result.getAttribute('data-run-id');

    // The database has the same numbers.
    const row2 = execFileSync('sqlite3', [
      path.join(dataDir, 'galaxy.db'),
      `SELECT mode, status, prompt_tokens, completion_tokens, cost_micros, cost_source FROM runs WHERE id = '${runId}'`,
    ]).toString().trim();
    expect(row2).toBe('live|succeeded|21|9|9|provider_usage');

    // An output schema the reply does not meet: the run is marked invalid, the reply is kept,
    // the validator's message is shown, and the spend is still recorded.
    await createAgent(page, {
      name: 'Typed live agent',
      outputSchema: JSON.stringify({ type: 'object', properties: { greeting: { type: 'string' } } }),
    });
    await panel.getByLabel('Live (OpenAI)').check();
    await panel.getByRole('button', { name: 'Run' }).click();
    const typed = panel.locator('.run-result');
    await expect(typed.locator('[data-status="output_invalid"]')).toBeVisible();
    await expect(typed.locator('[data-status="output_invalid"]')).toHaveText('Invalid output');
    await expect(typed.locator('li[data-field="/"]')).toContainText('not JSON');
    await expect(typed.getByLabel('Output')).toHaveText('Hello from the fake provider.');
    await expect(typed.locator('[data-metric="total_tokens"]')).toHaveText('30');
    await responses.check(10);
  });

  test('an OpenAI-compatible endpoint works the same way, and its unknown model is unpriced', async ({ page }) => {
    await signUp(page, 'Compat', uniqueEmail('compat'));
    // Sign-up navigates by itself; everything after it is read.
    const responses = capture(page);
    await page.goto('/settings/keys');
    await hydrated(page);
    await page.getByLabel('Provider').selectOption('openai_compatible');
    await page.getByLabel('Label').fill('local');
    await page.getByLabel('Base URL').fill(`http://127.0.0.1:${process.env.FAKE_PROVIDER_PORT ?? 3199}/v1`);
    await page.getByLabel('API key').fill(canary);
    await page.getByRole('button', { name: 'Save key' }).click();
    await expect(page.locator('tr[data-key-id]')).toContainText('OpenAI-compatible');

    await createAgent(page, { name: 'Compat agent', provider: 'openai_compatible', model: 'local-llama' });
    const panel = page.locator('section.test-panel');
    await panel.getByLabel('Live (OpenAI-compatible)').check();
    await panel.getByRole('button', { name: 'Run' }).click();
    const result = panel.locator('.run-result');
    await expect(result.locator('[data-status="succeeded"]')).toBeVisible();
    await expect(result.getByLabel('Output')).toHaveText('Hello from the fake provider.');
    await expect(result.locator('[data-metric="total_tokens"]')).toHaveText('30');
    await expect(result.locator('[data-metric="cost"]')).toHaveText('unpriced');
    await expect(result.locator('[data-metric="cost_source"]')).toHaveText('unpriced');
    const agentUrl = page.url();

    // A workspace price makes the next run priced from the provider's usage.
    await page.goto('/settings/prices');
    await hydrated(page);
    await page.getByLabel('Provider').selectOption('openai_compatible');
    await page.getByLabel('Model').fill('local-llama');
    await page.getByLabel('Input $ per million tokens').fill('1');
    await page.getByLabel('Output $ per million tokens').fill('x');
    await page.getByRole('button', { name: 'Save price' }).click();
    await expect(page.locator('#output_price-error')).toContainText('dollars per million tokens');
    await page.getByLabel('Output $ per million tokens').fill('2');
    await page.getByRole('button', { name: 'Save price' }).click();
    await expect(page.locator('table.prices').first()).toContainText('local-llama');

    await page.goto(agentUrl);
    await hydrated(page);
    await panel.getByLabel('Live (OpenAI-compatible)').check();
    await panel.getByRole('button', { name: 'Run' }).click();
    await expect(result.locator('[data-status="succeeded"]')).toBeVisible();
    // 21 × $1/M + 9 × $2/M = 39 µ$.
    await expect(result.locator('[data-metric="cost"]')).toHaveText('$0.000039');
    await expect(result.locator('[data-metric="cost_source"]')).toHaveText('provider_usage');
    await responses.check(10);
  });
});
