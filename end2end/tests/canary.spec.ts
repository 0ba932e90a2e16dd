// The canary key, typed where people type keys and repeated back by a provider that misbehaves:
// a rejected entry, a save, a rotation, a wrong key whose 401 quotes it, a provider error that
// quotes it, a stream that contains it, and an error event that quotes it. Every response the
// browser receives is read (a response whose body cannot be read fails the test) and none may
// hold the key; the places where the key was repeated show "[redacted]" instead, so the test
// knows the provider really did echo it. leaks.spec.ts then checks the files the server wrote.
import { expect, Page, test } from '@playwright/test';
import { capture, createAgent, hydrated, signUp, uniqueEmail } from './helpers';

const canary = process.env.GALAXY_E2E_CANARY!;
const rotated = `${canary}-rotated`;
const fake = `http://127.0.0.1:${process.env.FAKE_PROVIDER_PORT ?? 3199}/v1`;

async function runLive(page: Page, model: string) {
  await createAgent(page, { name: `Canary ${model}`, model });
  const panel = page.locator('section.test-panel');
  await panel.getByLabel('Live (OpenAI)').check();
  await panel.getByLabel('Input').fill('Say something.');
  await panel.getByRole('button', { name: 'Run' }).click();
  return panel.locator('.run-result');
}

test('a key entered, rotated and echoed by the provider is never answered back', async ({ page }) => {
  await signUp(page, 'Canary', uniqueEmail('canary'));
  // Sign-up navigates by itself (and has nothing to do with keys); everything after it is read.
  const responses = capture(page);
  await page.goto('/settings/keys');
  await hydrated(page);

  // A rejected entry: the key with a space in it, and no label.
  await page.getByLabel('API key').fill(`${canary} x`);
  await page.getByRole('button', { name: 'Save key' }).click();
  await expect(page.locator('#label-error')).toContainText('Give the key a label');
  await expect(page.locator('#api_key-error')).toContainText('does not look like an API key');
  // … and one rejected for its base URL, with a well-formed key.
  await page.getByLabel('Provider').selectOption('openai_compatible');
  await page.getByLabel('Label').fill('bad url');
  await page.getByLabel('Base URL').fill('ftp://example.com/v1');
  await page.getByLabel('API key').fill(canary);
  await page.getByRole('button', { name: 'Save key' }).click();
  await expect(page.locator('#base_url-error')).toContainText('base URL');
  await expect(page.getByText('No keys yet.')).toBeVisible();

  // Saved, then rotated: the rotated key is the one that works from now on.
  await page.getByLabel('Provider').selectOption('openai');
  await page.getByLabel('Label').fill('canary');
  await page.getByLabel('API key').fill(canary);
  await page.getByRole('button', { name: 'Save key' }).click();
  await expect(page.getByRole('status')).toContainText(`ending in …${canary.slice(-4)}`);
  const first = page.locator('tr[data-key-id]', { hasText: 'canary' });
  await first.getByText('Rotate…').click();
  await first.getByLabel('New key').fill(rotated);
  await first.getByRole('button', { name: 'Rotate' }).click();
  const active = page.locator('tr[data-key-id]', { hasText: 'active' });
  await expect(active).toContainText('…ated');
  await expect(page.locator('tr[data-key-id]', { hasText: 'superseded' })).toHaveCount(1);
  await active.getByRole('button', { name: 'Test' }).click();
  await expect(page.getByText('The provider accepted the key.')).toBeVisible();

  // A wrong key: the provider's 401 quotes it; the person sees the message without it.
  await page.getByLabel('Provider').selectOption('openai_compatible');
  await page.getByLabel('Label').fill('wrong');
  await page.getByLabel('Base URL').fill(fake);
  await page.getByLabel('API key').fill(`${canary}-wrong`);
  await page.getByRole('button', { name: 'Save key' }).click();
  const wrong = page.locator('tr[data-key-id]', { hasText: 'wrong' });
  await expect(wrong).toBeVisible();
  await wrong.getByRole('button', { name: 'Test' }).click();
  const refusal = page.locator('p.error[role="status"]');
  await expect(refusal).toContainText('Incorrect API key provided: [redacted]');

  // The provider refuses the request and quotes the key.
  const refused = await runLive(page, 'echo-key');
  await expect(refused.locator('[data-status="failed"]')).toBeVisible();
  await expect(refused.getByLabel('Run error')).toContainText('The key [redacted] may not use this model.');

  // The provider streams the key back, split across chunks.
  const echoed = await runLive(page, 'echo-stream');
  await expect(echoed.locator('[data-status="succeeded"]')).toBeVisible();
  await expect(echoed.getByLabel('Output')).toHaveText('Your key is [redacted] and it is safe.');

  // The provider's error event quotes the key after the stream began.
  const event = await runLive(page, 'echo-event');
  await expect(event.locator('[data-status="failed"]')).toBeVisible();
  await expect(event.getByLabel('Run error')).toContainText('Key [redacted] hit an internal error.');

  // The pages that show runs and account activity afterwards.
  await page.goto('/agents');
  await page.goto('/account');
  await hydrated(page);
  await page.goto('/settings/keys');
  await hydrated(page);
  await expect(page.locator('tr[data-key-id]')).toHaveCount(3);

  const bodies = await responses.check(20);
  // The streamed answer itself was among the responses read.
  expect(bodies.some(({ body }) => body.includes('Your key is [redacted]'))).toBe(true);
});
