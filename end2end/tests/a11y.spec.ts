// Accessibility: axe (axe-core, through @axe-core/playwright) reports no violation on the main
// pages, signed in, with an agent and a run to show.
import AxeBuilder from '@axe-core/playwright';
import { expect, test } from '@playwright/test';
import { createAgent, hydrated, signUp, uniqueEmail } from './helpers';

test('axe finds nothing on the main pages', async ({ page }) => {
  await signUp(page, 'Axe', uniqueEmail('axe'));
  await createAgent(page, { name: 'Checked agent' });
  const agentPath = new URL(page.url()).pathname;
  const panel = page.locator('section.test-panel');
  await panel.getByLabel('Input').fill('hello');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();
  const run = (await panel.locator('.run-result').getAttribute('data-run-id')) ?? '';
  const found: string[] = [];
  for (const path of ['/', '/agents', agentPath, '/runs', `/runs/${run}`, '/settings/keys', '/settings/members', '/settings/audit', '/account']) {
    await page.goto(path);
    await hydrated(page);
    const { violations } = await new AxeBuilder({ page }).analyze();
    for (const v of violations) {
      found.push(`${path}: ${v.id} (${v.impact}) — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
    }
  }
  expect(found).toEqual([]);
});
