// First load within budget: a visitor new to this build downloads the main module, its glue, the
// loader and the page's own lazily loaded modules — nothing of the other pages — and a second load
// of the same build downloads none. The budget, 300 KB of compressed WASM and JavaScript,
// holds for the public pages (log-in, sign-up, invitation), the dashboard and an agent's page
// (whose builder and test panel fetch their module on first use: app/src/deferred.rs); each page's
// ceiling is the budget itself. Bytes are what went over the wire (DevTools' encoded
// data length: compressed body and headers), counted for every /pkg/*.js and /pkg/*.wasm response
// not served from the memory or disk cache, with the service worker blocked (pwa.spec.ts covers
// it).
import { BrowserContext, expect, Page, test } from '@playwright/test';
import { createAgent, hydrated, signUp, uniqueEmail } from './helpers';

/** The ceilings, in bytes over the wire. */
const BUDGET = { 'log-in page': 300_000, dashboard: 300_000, 'agent page': 300_000 } as const;

/** Runs `load` and returns, per bundle file fetched from the network, its wire bytes and how
 * many times it was fetched. */
async function bundleBytes(context: BrowserContext, page: Page, load: () => Promise<unknown>) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const urls = new Map<string, string>();
  const bytes = new Map<string, number>();
  const cached = new Set<string>();
  cdp.on('Network.requestServedFromCache', (e) => cached.add(e.requestId));
  cdp.on('Network.responseReceived', (e) => {
    urls.set(e.requestId, new URL(e.response.url).pathname);
    if (e.response.fromDiskCache || e.response.fromPrefetchCache) cached.add(e.requestId);
  });
  cdp.on('Network.loadingFinished', (e) => bytes.set(e.requestId, e.encodedDataLength));
  await load();
  await hydrated(page);
  // The page is interactive; let late module fetches (if any) finish before counting.
  await page.waitForLoadState('networkidle');
  const files: Record<string, number> = {};
  const fetches: Record<string, number> = {};
  for (const [id, url] of urls) {
    if (!/^\/pkg\/.*\.(js|wasm)$/.test(url)) continue;
    files[url] = (files[url] ?? 0) + (cached.has(id) ? 0 : bytes.get(id) ?? 0);
    if (!cached.has(id)) fetches[url] = (fetches[url] ?? 0) + 1;
  }
  await cdp.detach();
  return { files, fetches };
}

const total = (files: Record<string, number>) => Object.values(files).reduce((a, b) => a + b, 0);

test('a first load of a page fetches its modules only, within budget; a second downloads nothing', async ({ browser, page }) => {
  await signUp(page, 'Budget', uniqueEmail('budget'));
  await createAgent(page, { name: 'Budget agent' });
  const agentUrl = page.url();
  const state = await page.context().storageState();

  const pages = [['log-in page', '/login', 'public'], ['dashboard', '/', 'dashboard'], ['agent page', agentUrl, 'agents']] as const;
  for (const [name, url, group] of pages) {
    // A new context: empty HTTP cache — a first visit to this build (signed out for the log-in
    // page). The service worker is kept out: its own fetches (the shell it precaches) happen
    // outside the page and would hide bytes; the HTTP cache alone must make the second load free.
    const context = await browser.newContext({
      serviceWorkers: 'block',
      ...(name === 'log-in page' ? {} : { storageState: state }),
    });
    const fresh = await context.newPage();
    const { files: first, fetches } = await bundleBytes(context, fresh, () => fresh.goto(url));
    const wasm = Object.keys(first).filter((f) => f.endsWith('.wasm'));
    expect(wasm.some((f) => /^\/pkg\/galaxy\.[0-9a-f]{16}\.wasm$/.test(f)), `${name}: main module`).toBe(true);
    const splits = wasm.filter((f) => f.startsWith('/pkg/split_')).map((f) => f.split('.')[0]);
    expect(splits, `${name}: its page's module, and no other page's`).toEqual([`/pkg/split_${group}`]);
    // The main module's preload was used, nothing fetched twice.
    const twice = Object.entries(fetches).filter(([, n]) => n > 1);
    expect(twice, `${name}: files fetched more than once`).toEqual([]);
    console.log(`${name}: first load ${total(first)} B of WASM + JS`, first);
    expect(total(first), `${name}: first-load WASM + JS bytes`).toBeLessThanOrEqual(BUDGET[name]);
    // The page works: the agent page's test panel is there, and starts when it is used (its
    // module is not part of the first load, and is not counted in it).
    if (name === 'agent page') {
      await fresh.locator('section.test-panel').getByLabel('Input').focus();
      await expect(fresh.locator('[data-part="agent"]')).toHaveAttribute('data-live', 'true');
    }
    // The same build again: everything from the cache.
    const { files: second } = await bundleBytes(context, fresh, () => fresh.reload());
    expect(total(second), `${name}: second-load bytes ${JSON.stringify(second)}`).toBe(0);
    await context.close();
  }
});
