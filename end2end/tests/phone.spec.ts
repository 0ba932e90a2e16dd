// A phone, 390 × 844: every page fits the screen's width (nothing scrolls sideways), the
// navigation reaches every page and Log out, and what takes a tap is at least 44 px tall.
import { expect, Page, test } from '@playwright/test';
import { createAgent, hydrated, signUp, uniqueEmail } from './helpers';

test.use({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });

async function fits(page: Page, path: string) {
  await page.goto(path);
  await hydrated(page);
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
  }));
  expect(scroll, `${path} is ${scroll} px wide on a ${width} px screen`).toBeLessThanOrEqual(width);
}

test('every page fits a phone and the navigation reaches everything', async ({ page }) => {
  await signUp(page, 'Phone', uniqueEmail('phone'));
  await createAgent(page, { name: 'Pocket agent' });
  const agentPath = new URL(page.url()).pathname;
  const panel = page.locator('section.test-panel');
  await panel.getByLabel('Input').fill('does it fit?');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();
  const run = (await panel.locator('.run-result').getAttribute('data-run-id')) ?? '';

  for (const path of [
    '/',
    '/?range=30d',
    '/agents',
    '/agents/new',
    agentPath,
    `${agentPath}/versions`,
    `${agentPath}/versions/1`,
    '/runs',
    `/runs/${run}`,
    `/runs/compare?a=${run}&b=${run}`,
    '/settings/keys',
    '/settings/prices',
    '/settings/tokens',
    '/settings/limits',
    '/settings/members',
    '/settings/audit',
    '/settings/workspace',
    '/account',
  ]) {
    await fits(page, path);
  }

  // The navigation wraps: every link and Log out are on screen and big enough to tap.
  await page.goto('/');
  await hydrated(page);
  for (const name of ['Dashboard', 'Agents', 'Runs', 'Provider keys', 'Prices', 'API tokens', 'Limits & budget', 'Members', 'Audit log', 'Workspace']) {
    const link = page.locator('nav.links').getByRole('link', { name, exact: true });
    await expect(link).toBeInViewport();
    const box = await link.boundingBox();
    expect(box!.height, `${name} is tall enough to tap`).toBeGreaterThanOrEqual(44);
  }
  const logOut = page.getByRole('button', { name: 'Log out' });
  await expect(logOut).toBeInViewport();
  expect((await logOut.boundingBox())!.height).toBeGreaterThanOrEqual(44);
  // The test panel, one-handed: its Run button is full height too.
  await page.goto(agentPath);
  await hydrated(page);
  expect((await panel.getByRole('button', { name: 'Run' }).boundingBox())!.height).toBeGreaterThanOrEqual(44);
  await page.getByRole('button', { name: 'Log out' }).tap();
  await expect(page).toHaveURL(/\/login$/);
});
