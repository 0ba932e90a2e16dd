// A run on record, opened from the runs table: its input, output, metrics and every provider call.
import { expect, test } from '@playwright/test';
import { createAgent, hydrated, signUp, uniqueEmail } from './helpers';

test('open a run from the latest runs and see its attempts', async ({ page }) => {
  await signUp(page, 'Runs', uniqueEmail('runs'));
  await createAgent(page, { name: 'Inspected agent' });
  const panel = page.locator('section.test-panel');
  await panel.getByLabel('Input').fill('Tell me about runs.');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();
  const runId = await panel.locator('.run-result').getAttribute('data-run-id');
  await panel.locator(`tr[data-run-id="${runId}"] a`).first().click();
  await expect(page).toHaveURL(new RegExp(`/runs/${runId}$`));
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Run', level: 1 })).toBeVisible();
  const detail = page.locator('section.run-detail');
  await expect(detail.locator('[data-status="succeeded"]')).toBeVisible();
  await expect(detail.getByLabel('Input')).toHaveText('Tell me about runs.');
  await expect(detail.locator('[data-detail="agent"]')).toContainText('Inspected agent · version 1');
  await expect(detail.locator('tr[data-attempt="1"]')).toBeVisible();
  await expect(detail.locator('[data-detail="cost"]')).toContainText('$');
});

test('the runs page filters by status and text, and the filters stay in the URL', async ({ page }) => {
  await signUp(page, 'Runs list', uniqueEmail('runs-list'));
  await createAgent(page, { name: 'Listed agent' });
  const panel = page.locator('section.test-panel');
  await panel.getByLabel('Input').fill('a findable needle');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();
  await page.getByRole('link', { name: 'Runs', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Runs', level: 1 })).toBeVisible();
  await hydrated(page);
  await page.getByLabel('Status').selectOption('succeeded');
  await page.getByLabel('Text in input or output').fill('NEEDLE');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/\/runs\?.*status=succeeded.*q=NEEDLE/);
  await expect(page.locator('table.runs tbody tr')).toHaveCount(1);
  await expect(page.locator('table.runs')).toContainText('Listed agent');
  await page.getByLabel('Text in input or output').fill('nothing like it');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByText('No runs yet.')).toBeVisible();
});
