// End-to-end tests: Debian's Chromium driven by Playwright against a real `galaxy` server with a
// fresh SQLite data directory. GALAXY_BIN and GALAXY_SITE_ROOT come from .ci/test.
import { defineConfig } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const port = Number(process.env.GALAXY_E2E_PORT ?? 3100);
const bin = process.env.GALAXY_BIN ?? path.resolve(__dirname, '../target/debug/galaxy');
const siteRoot = process.env.GALAXY_SITE_ROOT ?? path.resolve(__dirname, '../target/site');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'galaxy-e2e-'));

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
    { name: 'chromium', testIgnore: /no-js\.spec\.ts/ },
    { name: 'chromium-no-js', testMatch: /no-js\.spec\.ts/, use: { javaScriptEnabled: false } },
  ],
  webServer: {
    command: `"${bin}" serve --addr 127.0.0.1:${port} --data-dir "${dataDir}" --site-root "${siteRoot}"`,
    url: `http://127.0.0.1:${port}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
    env: { RUST_LOG: 'warn' },
  },
});
