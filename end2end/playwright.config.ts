// End-to-end tests: Debian's Chromium driven by Playwright against a real `galaxy` server with a
// fresh SQLite data directory. GALAXY_BIN and GALAXY_SITE_ROOT come from .ci/test.
import { defineConfig } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const port = Number(process.env.GALAXY_E2E_PORT ?? 3100);
const bin = process.env.GALAXY_BIN ?? path.resolve(__dirname, '../target/debug/galaxy');
const siteRoot = process.env.GALAXY_SITE_ROOT ?? path.resolve(__dirname, '../target/site');
// The config is evaluated in the runner and again in each worker: create the data dir once.
const dataDir = process.env.GALAXY_E2E_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'galaxy-e2e-'));
const fakePort = Number(process.env.FAKE_PROVIDER_PORT ?? 3199);
const shortReauthPort = port + 2;
process.env.GALAXY_E2E_SHORT_REAUTH_URL = `http://127.0.0.1:${shortReauthPort}`;
// A unique provider key for this run: canary.spec types it and has the fake provider echo it;
// no response may hold it, and leaks.spec checks the database, the logs and /metrics afterwards.
process.env.GALAXY_E2E_CANARY ??= `sk-galaxy-canary-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
process.env.GALAXY_E2E_DATA_DIR = dataDir;
process.env.GALAXY_E2E_LOG = path.join(dataDir, 'server.log');
process.env.GALAXY_E2E_SITE_ROOT = siteRoot;

export default defineConfig({
  testDir: './tests',
  outputDir: path.join(__dirname, 'test-results'),
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 2,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [
    { name: 'chromium', testIgnore: /(no-js|leaks|pwa)\.spec\.ts/ },
    { name: 'chromium-no-js', testMatch: /no-js\.spec\.ts/, use: { javaScriptEnabled: false } },
    // Alone, after the others: it changes the served service worker for a moment.
    { name: 'pwa', testMatch: /pwa\.spec\.ts/, dependencies: ['chromium', 'chromium-no-js'] },
    // After everything else: what the servers wrote must not hold the canary key.
    { name: 'leaks', testMatch: /leaks\.spec\.ts/, dependencies: ['chromium', 'chromium-no-js', 'pwa'] },
  ],
  webServer: [
    {
      command: `node fake-provider.mjs`,
      url: `http://127.0.0.1:${fakePort}/health`,
      reuseExistingServer: false,
      env: { FAKE_PROVIDER_PORT: String(fakePort), GALAXY_E2E_CANARY: process.env.GALAXY_E2E_CANARY! },
    },
    {
      // Logs at debug go to a file the canary check reads.
      command: `"${bin}" serve --addr 127.0.0.1:${port} --data-dir "${dataDir}" --site-root "${siteRoot}" ` +
        `--openai-base-url http://127.0.0.1:${fakePort}/v1 ` +
        // The OpenAI-compatible key in live.spec points at the local fake: allowed on purpose.
        `--allowed-private-endpoints 127.0.0.1:${fakePort} ` +
        // Every test signs up from 127.0.0.1.
        `--signups-per-client-per-hour 100000 > "${process.env.GALAXY_E2E_LOG}" 2>&1`,
      url: `http://127.0.0.1:${port}/readyz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'ignore',
      env: { RUST_LOG: 'debug,hyper=info,h2=info,rustls=info' },
    },
    {
      // A second server whose password confirmations last one second: account.spec checks the
      // confirm-your-password prompt on it.
      command: `"${bin}" serve --addr 127.0.0.1:${shortReauthPort} --data-dir "${path.join(dataDir, 'short-reauth')}" ` +
        `--site-root "${siteRoot}" --reauth-window-secs 1 --signups-per-client-per-hour 100000`,
      url: `http://127.0.0.1:${shortReauthPort}/readyz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'ignore',
    },
  ],
});
