// Lighthouse (npm `lighthouse`, pinned by .ci/lighthouse) on the pages a signed-in person lands
// on: signs up and creates an agent through the UI in Debian's Chromium, then audits the
// dashboard and the agent's page with the session cookie (mobile emulation and simulated
// throttling, Lighthouse's defaults), printing performance and accessibility per page and
// writing each report as JSON beside this file. Usage: node lighthouse.mjs <base-url> <lighthouse-bin>
//
// Lighthouse's CPU throttling is relative to the machine it runs on: its default 4× slowdown
// assumes a high-end desktop (benchmarkIndex 1500–2000, Lighthouse's docs/throttling.md). The
// table prints each run's benchmarkIndex; GALAXY_LH_CPU_SLOWDOWN=<n> sets the multiplier the docs
// recommend for a slower machine (2× from a low-end desktop, 1000–1500, to a mid-tier phone).
import { chromium } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const [base, lighthouse] = process.argv.slice(2);
const out = path.join(import.meta.dirname, 'lighthouse');
fs.mkdirSync(out, { recursive: true });

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
const page = await browser.newPage({ baseURL: base });
const ready = () => page.locator('main[data-hydrated="true"]').waitFor({ state: 'attached' });
await page.goto('/signup');
await ready();
await page.getByLabel('Name').fill('Lighthouse');
await page.getByLabel('Email').fill(`lighthouse-${Date.now()}@example.com`);
await page.getByLabel('Password').fill('correct horse battery');
await page.getByRole('button', { name: 'Sign up' }).click();
await page.waitForURL(/\/$/);
await page.goto('/agents/new');
await ready();
await page.getByLabel('Name').fill('Support triage');
await page.getByRole('button', { name: 'Create agent' }).click();
await page.waitForURL(/\/agents\/[0-9a-f-]{36}$/);
const agent = new URL(page.url()).pathname;
const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
await browser.close();

const headers = path.join(out, 'headers.json');
fs.writeFileSync(headers, JSON.stringify({ Cookie: cookie }));
const rows = [];
try {
  for (const [name, url] of [['dashboard', '/'], ['agent page', agent]]) {
    const report = path.join(out, `${name.replace(' ', '-')}.json`);
    execFileSync(lighthouse, [
      base + url, '--quiet', '--output=json', `--output-path=${report}`,
      '--only-categories=performance,accessibility', `--extra-headers=${headers}`,
      '--chrome-flags=--headless=new --no-sandbox --disable-gpu',
      ...(process.env.GALAXY_LH_CPU_SLOWDOWN ? [`--throttling.cpuSlowdownMultiplier=${process.env.GALAXY_LH_CPU_SLOWDOWN}`] : []),
    ], { stdio: 'inherit', env: { ...process.env, CHROME_PATH: '/usr/bin/chromium' } });
    const r = JSON.parse(fs.readFileSync(report, 'utf8'));
    const a = r.audits;
    rows.push({
      page: name,
      performance: Math.round(r.categories.performance.score * 100),
      accessibility: Math.round(r.categories.accessibility.score * 100),
      'FCP ms': Math.round(a['first-contentful-paint'].numericValue),
      'LCP ms': Math.round(a['largest-contentful-paint'].numericValue),
      'TBT ms': Math.round(a['total-blocking-time'].numericValue),
      CLS: a['cumulative-layout-shift'].numericValue.toFixed(3),
      'transfer KiB': Math.round(a['total-byte-weight'].numericValue / 1024),
      benchmarkIndex: Math.round(r.environment.benchmarkIndex),
      'CPU slowdown': r.configSettings.throttling.cpuSlowdownMultiplier,
      failing: Object.values(a).filter((x) => x.score !== null && x.score < 1 && r.categories.accessibility.auditRefs.some((ref) => ref.id === x.id)).map((x) => x.id).join(' '),
    });
  }
} finally {
  fs.rmSync(headers, { force: true });
}
console.table(rows);
