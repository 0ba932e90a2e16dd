// The pages are lazily loaded routes (app/src/routes.rs): a client-side navigation to a page of
// another group fetches that group's module, once, and shows the page; a module that cannot be
// loaded — a tab opened before a new deployment removed its build, or a dropped connection —
// leaves a message and a link that loads the page in full, never a dead page.
import { expect, test } from '@playwright/test';
import { createAgent, hydrated, signUp, uniqueEmail } from './helpers';

// The service worker would fetch modules itself, out of page.route's reach.
test.use({ serviceWorkers: 'block' });

test('a navigation to another group fetches its module once and shows the page', async ({ page }) => {
  await signUp(page, 'Router', uniqueEmail('router'));
  const modules: string[] = [];
  page.on('request', (r) => {
    const m = new URL(r.url()).pathname.match(/^\/pkg\/split_([a-z]+)\./);
    if (m) modules.push(m[1]);
  });
  const nav = page.locator('nav.links');
  for (const [link, heading, group] of [
    ['Agents', 'Agents', 'agentlist'],
    ['Runs', 'Runs', 'runs'],
    ['Provider keys', 'Provider keys', 'settings'],
    ['Prices', 'Prices', 'settings'],
    ['Dashboard', 'Dashboard', 'dashboard'],
    ['Agents', 'Agents', 'agentlist'],
  ] as const) {
    await nav.getByRole('link', { name: link, exact: true }).click();
    await expect(page.getByRole('heading', { name: heading, level: 1 })).toBeVisible();
    // Its group's module is there: fetched now, on the group's first visit, or before.
    expect(modules.filter((m) => m === group).length, `${group} fetched`).toBe(group === 'dashboard' ? 0 : 1);
  }
  // The dashboard's module came with the first load; each other group's once, on its first visit.
  expect(modules.sort()).toEqual(['agentlist', 'runs', 'settings']);
});

test("an agent's version history is a group of its own, fetched when first shown", async ({ page }) => {
  await signUp(page, 'Versions', uniqueEmail('versions'));
  await createAgent(page, { name: 'Versioned' });
  const modules: string[] = [];
  page.on('request', (r) => {
    const m = new URL(r.url()).pathname.match(/^\/pkg\/split_([a-z]+)\./);
    if (m) modules.push(m[1]);
  });
  await page.locator('[data-action="versions"]').click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Versioned: versions');
  expect(modules).toEqual(['versions']);
});

test('a page whose module does not load says so and offers a full load that works', async ({ page }) => {
  await signUp(page, 'Stale tab', uniqueEmail('stale'));
  const gone = /\/pkg\/split_settings\./;
  await page.route(gone, (r) => r.fulfill({ status: 404, body: 'Not Found' }));
  await page.locator('nav.links').getByRole('link', { name: 'Provider keys' }).click();
  const alert = page.locator('[data-not-loaded]');
  await expect(alert).toContainText('This page could not be loaded');
  await expect(page).toHaveURL(/\/settings\/keys$/);
  // The rest of the app still works: another group's page opens.
  await page.locator('nav.links').getByRole('link', { name: 'Agents', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Agents', level: 1 })).toBeVisible();
  // Back on the broken page, the link loads it in full once the module is there again.
  await page.locator('nav.links').getByRole('link', { name: 'Provider keys' }).click();
  await expect(alert).toBeVisible();
  await page.unroute(gone);
  await page.getByRole('link', { name: 'Reload the page' }).click();
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Provider keys', level: 1 })).toBeVisible();
  await expect(page.locator('[data-not-loaded]')).toHaveCount(0);
});

test('the quick run loads its form on opening, and says so when it cannot', async ({ page }) => {
  await signUp(page, 'Quick', uniqueEmail('quick'));
  await createAgent(page, { name: 'Quick agent' });
  await page.goto('/');
  await hydrated(page);
  // Not loaded yet: the dashboard came without it.
  const quick = page.locator('section.quick-run');
  await expect(quick.getByLabel('Input')).toHaveCount(0);
  const gone = /\/pkg\/split_workbench\./;
  await page.route(gone, (r) => r.fulfill({ status: 404, body: 'Not Found' }));
  await quick.getByRole('button', { name: 'Open quick run' }).click();
  await expect(quick.getByRole('alert')).toContainText('The quick run could not be loaded');
  // The dashboard itself still works.
  await page.locator('nav.links').getByRole('link', { name: 'Runs', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Runs', level: 1 })).toBeVisible();
  await page.unroute(gone);
  await page.locator('nav.links').getByRole('link', { name: 'Dashboard', exact: true }).click();
  await quick.getByRole('button', { name: 'Open quick run' }).click();
  await expect(quick.getByLabel('Input')).toBeEditable();
});

test('a first load whose page module fails is loaded again, once, and works', async ({ page }) => {
  await signUp(page, 'Flaky', uniqueEmail('flaky'));
  let loads = 0;
  page.on('load', () => loads++);
  // The next full load of the dashboard: its module fails once (an instance on another build,
  // a dropped connection), then loads.
  let asked = 0;
  await page.route(/\/pkg\/split_dashboard\./, (r) => (++asked === 1 ? r.fulfill({ status: 404, body: 'Not Found' }) : r.continue()));
  await page.goto('/');
  await hydrated(page);
  expect(loads, 'the first load and one reload').toBe(2);
  expect(await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).type)).toBe('reload');
  await page.locator('nav.links').getByRole('link', { name: 'Runs', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Runs', level: 1 })).toBeVisible();
  // Failing every time: one reload, then the server's page stays as it is — no reload loop.
  await page.unrouteAll();
  await page.route(/\/pkg\/split_dashboard\./, (r) => r.fulfill({ status: 404, body: 'Not Found' }));
  await page.evaluate(() => sessionStorage.clear());
  loads = 0;
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Dashboard', level: 1 })).toBeVisible();
  await page.waitForTimeout(2000);
  expect(loads, 'the first load and one reload').toBe(2);
  await expect(page.getByRole('heading', { name: 'Dashboard', level: 1 })).toBeVisible();
});
