// Limits and budgets as an admin meets them: Settings → Limits & budget saves a request limit and
// a budget; the test panel shows a run's estimated cost and the budget left before Run; a run
// past the limit is refused and on record; a spent budget shows the admins' banner on every page
// and the dashboard's spend bar.
import { expect, test } from '@playwright/test';
import { createAgent, hydrated, signUp, uniqueEmail } from './helpers';

test('an admin sets limits, sees the estimate before Run, a refusal, and the budget banner', async ({ page }) => {
  await signUp(page, 'Limits', uniqueEmail('limits'));
  await page.goto('/settings/limits');
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Limits & budget' })).toBeVisible();
  // A wrong value is named next to its field and nothing is saved.
  await page.getByLabel('Requests per minute', { exact: true }).fill('lots');
  await page.getByRole('button', { name: 'Save limits' }).click();
  await expect(page.getByText('Enter a whole number from 1 to 1000000')).toBeVisible();
  await page.getByLabel('Requests per minute', { exact: true }).fill('2');
  await page.getByLabel('Budget (US $)', { exact: true }).fill('5');
  await page.getByLabel('Alert admins at (%)').fill('80');
  await page.getByRole('button', { name: 'Save limits' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Saved.' })).toBeVisible();
  await expect(page.locator('[data-usage="budget"]')).toHaveText('$5.000000 (hard cap)');
  await expect(page.locator('[data-usage="requests"]')).toContainText('2 of 2 requests available now');

  // The test panel: the estimate (gpt-4o-mini, 100 max tokens) and the budget left, before Run;
  // it follows the input.
  await createAgent(page, { name: 'Estimated agent' });
  const panel = page.locator('section.test-panel');
  const estimate = panel.locator('[data-estimate="cost"]');
  await expect(estimate).toContainText('Estimated cost of a live run: $0.0000');
  await expect(estimate).toContainText('Budget left this month: $5.000000');
  await panel.getByLabel('Input').fill('word '.repeat(200));
  await expect(estimate).toContainText(/\b2\d\d input tokens/);

  // Two runs a minute: the third is refused, and on record.
  await panel.getByLabel('Input').fill('hello');
  for (let i = 0; i < 2; i++) {
    await panel.getByRole('button', { name: 'Run' }).click();
    await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();
    await expect(panel.getByRole('button', { name: 'Run' })).toBeEnabled();
  }
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.getByText(/Too many attempts or runs right now\. Try again in \d+ seconds\./)).toBeVisible();
  await expect(panel.locator('[data-status="rate_limited"]').first()).toBeVisible();

  // A spent budget: the banner on every page for the admin, the dashboard's bar.
  await page.goto('/settings/limits');
  await hydrated(page);
  await page.getByLabel('Budget (US $)', { exact: true }).fill('0');
  await page.getByLabel('Alert admins at (%)').fill('');
  await page.getByRole('button', { name: 'Save limits' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Saved.' })).toBeVisible();
  for (const url of ['/', '/agents', '/settings/keys']) {
    await page.goto(url);
    await expect(page.locator('[data-banner="budget"]')).toContainText('live runs are refused until then');
  }
  await page.goto('/');
  await expect(page.locator('meter.spend-bar')).toBeAttached();
  await expect(page.locator('[data-usage="bar"]')).toContainText('$0.000000 of $0.000000 spent this month');
});

test("an admin gives one agent its own limit, on top of the workspace's, and removes it", async ({ page }) => {
  await signUp(page, 'Override', uniqueEmail('override'));
  await createAgent(page, { name: 'Capped agent' });
  const agentUrl = page.url();
  await page.goto('/settings/limits');
  await hydrated(page);
  await page.getByLabel('Agent or token').selectOption({ label: 'Agent · Capped agent' });
  await page.getByLabel('Its requests per minute').fill('1');
  await page.getByRole('button', { name: 'Save override' }).click();
  const row = page.locator('tr[data-override^="agent:"]');
  await expect(row).toContainText('Agent · Capped agent');
  await expect(row).toContainText('1');

  await page.goto(agentUrl);
  await hydrated(page);
  const panel = page.locator('section.test-panel');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();
  await expect(panel.getByRole('button', { name: 'Run' })).toBeEnabled();
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.getByText(/Too many attempts or runs right now/)).toBeVisible();

  await page.goto('/settings/limits');
  await hydrated(page);
  await row.getByRole('button', { name: 'Remove' }).click();
  await expect(row).toHaveCount(0);
  await page.goto(agentUrl);
  await hydrated(page);
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();
});
