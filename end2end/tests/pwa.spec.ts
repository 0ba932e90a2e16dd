// The installable app: Chromium finds nothing in the way of installing it; the service worker
// precaches the shell; with the network off a reload shows the offline page with the account's
// last agent list and runs; log-out drops those copies; a new deployment (a changed sw.js)
// offers "a new version is available — reload" and takes over only when asked. Runs alone, in
// its own project (it changes the served service worker for a moment).
import { expect, test } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createAgent, hydrated, signUp, uniqueEmail } from './helpers';

const cachedLists = () =>
  caches.keys().then((names) => names.filter((n) => n.startsWith('galaxy-pages-')).length);

test('installable, works offline from its cache, forgets at log-out, offers a new version', async ({ page, context }) => {
  await signUp(page, 'Pocket', uniqueEmail('pwa'));
  await createAgent(page, { name: 'Offline agent' });
  const panel = page.locator('section.test-panel');
  await panel.getByLabel('Input').fill('cache me');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();

  // The worker is active and controls the page; Chromium sees an installable app.
  await page.goto('/');
  await hydrated(page);
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await page.reload();
  await hydrated(page);
  expect(await page.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);
  const cdp = await context.newCDPSession(page);
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  // Playwright's contexts are incognito, where Chromium never installs anything; every other
  // condition (manifest, icons, service worker, scope) must hold.
  expect(installabilityErrors.filter((e) => e.errorId !== 'in-incognito')).toEqual([]);
  const manifest = await cdp.send('Page.getAppManifest');
  expect(manifest.errors).toEqual([]);
  // The shell is precached (the hashed bundle among it); the lists are copied for this account.
  const shell = await page.evaluate(async () => {
    const names = await caches.keys();
    const statics = names.find((n) => n.startsWith('galaxy-static-'));
    const keys = statics ? await (await caches.open(statics)).keys() : [];
    return keys.map((r) => new URL(r.url).pathname);
  });
  expect(shell.some((p) => /^\/pkg\/galaxy\.[0-9a-f]{16}\.wasm$/.test(p))).toBe(true);
  expect(shell).toContain('/offline.html');
  // The lists just viewed are copied for this account (the runs list by a client-side click).
  await page.goto('/agents');
  await hydrated(page);
  await page.locator('nav.links').getByRole('link', { name: 'Runs', exact: true }).click();
  await expect(page).toHaveURL(/\/runs$/);
  const kept = () => page.evaluate(async () => {
    const name = (await caches.keys()).find((n) => n.startsWith('galaxy-pages-'));
    return name ? (await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname).sort() : [];
  });
  await expect.poll(kept).toEqual(['/agents', '/runs']);
  expect(await page.evaluate(cachedLists)).toBe(1);

  // Offline: a reload is the offline page, with the agent and the run as last seen.
  await context.setOffline(true);
  await page.reload();
  await expect(page.getByRole('heading', { name: 'You are offline' })).toBeVisible();
  await expect(page.locator('[data-offline="agents"] table')).toContainText('Offline agent');
  await expect(page.locator('[data-offline="runs"] table')).toContainText('Offline agent');
  await context.setOffline(false);

  // A new deployment: the changed worker installs, waits, and the page offers a reload.
  await page.goto('/');
  await hydrated(page);
  const swFile = path.join(process.env.GALAXY_E2E_SITE_ROOT!, 'sw.js');
  const original = fs.readFileSync(swFile, 'utf8');
  try {
    fs.writeFileSync(swFile, `${original}\n// the next deployment\n`);
    for (const ext of ['.br', '.gz']) fs.rmSync(swFile + ext, { force: true });
    await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r?.update()));
    const banner = page.locator('#update-banner');
    await expect(banner).toContainText('A new version of Galaxy is available');
    await banner.getByRole('button', { name: 'Reload' }).click();
    await page.waitForEvent('load');
    await expect(page.locator('#update-banner')).toHaveCount(0);
  } finally {
    fs.writeFileSync(swFile, original);
  }

  // Log-out drops the account's copies.
  await hydrated(page);
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect.poll(() => page.evaluate(cachedLists)).toBe(0);
});
