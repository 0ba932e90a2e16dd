// Runs after every other test (the `leaks` project depends on both browser projects), so it sees
// everything the suite made the servers write: the canary key (and its rotated successor, which
// starts with it) must not appear in plain text — nor hex-encoded — in the databases, the debug
// server log, or /metrics. Each check also proves it read the real thing: files that must exist
// are required, and each surface must hold something the suite is known to have put there.
// The bundle was built before the canary existed, so it is checked for what could really leak
// into it: server-only code and names.
import { expect, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const canary = process.env.GALAXY_E2E_CANARY!;
const dataDir = process.env.GALAXY_E2E_DATA_DIR!;
const log = process.env.GALAXY_E2E_LOG!;
const hex = Buffer.from(canary).toString('hex');

function assertClean(what: string, bytes: Buffer) {
  expect(bytes.includes(Buffer.from(canary)), `${what} contains the key`).toBe(false);
  expect(bytes.toString('latin1').toLowerCase().includes(hex), `${what} contains the key in hex`).toBe(false);
}

test('the API tokens are in no database or log', () => {
  // Written by api.spec.ts (used with the REST API) and openai.spec.ts (used by both official
  // SDKs and curl); their secret parts must appear nowhere the server writes.
  const db = path.join(dataDir, 'galaxy.db');
  const dump = execFileSync('sqlite3', [db, '.dump'], { maxBuffer: 1 << 30 });
  for (const [file, name] of [['e2e-api-token', 'e2e'], ['e2e-sdk-token', 'sdk-e2e']]) {
    const token = fs.readFileSync(path.join(dataDir, file), 'utf8').trim();
    expect(token).toMatch(/^gx_/);
    const secret = Buffer.from(token.slice(3));
    expect(dump.toString('utf8').includes(`'${name}'`), `the dump holds the ${name} token row`).toBe(true);
    for (const [what, bytes] of [
      ['the database dump', dump],
      ['the server log', fs.readFileSync(log)],
      ...[db, `${db}-wal`].filter((f) => fs.existsSync(f)).map((f) => [f, fs.readFileSync(f)] as const),
    ] as const) {
      expect(bytes.includes(secret), `${what} contains the ${name} API token`).toBe(false);
    }
  }
});

test('the key is in no database, log or metrics answer', async ({ request }) => {
  expect(canary.length).toBeGreaterThan(20);
  for (const dir of [dataDir, path.join(dataDir, 'short-reauth')]) {
    const db = path.join(dir, 'galaxy.db');
    expect(fs.existsSync(db), `${db} exists`).toBe(true);
    for (const f of [db, `${db}-wal`, `${db}-shm`]) if (fs.existsSync(f)) assertClean(f, fs.readFileSync(f));
  }

  // The database as SQLite reads it (the WAL applied; BLOBs shown in hex).
  const dump = execFileSync('sqlite3', [path.join(dataDir, 'galaxy.db'), '.dump'], { maxBuffer: 1 << 30 });
  assertClean('the database dump', dump);
  const text = dump.toString('utf8');
  // The canary spec's agents, key, runs and account events are in it, scrubbed.
  for (const known of [
    'Canary echo-stream',
    'Your key is [redacted] and it is safe.',
    'The key [redacted] may not use this model.',
    'credential.rotated',
    'account.signed_up',
  ]) {
    expect(text.includes(known), `the database holds ${known}`).toBe(true);
  }

  expect(fs.existsSync(log), 'the server log exists').toBe(true);
  const logBytes = fs.readFileSync(log);
  assertClean('the server log', logBytes);
  // The log is real and at debug level, and it saw the runs (booleans: a failure must not
  // print the whole log).
  const logText = logBytes.toString('utf8');
  expect(logText.includes('DEBUG'), 'the log is at debug level').toBe(true);
  expect(logText.includes('run finished'), 'the log records runs').toBe(true);

  const metrics = await request.get('/metrics');
  expect(metrics.status()).toBe(200);
  const body = await metrics.body();
  assertClean('/metrics', body);
  expect(body.toString('utf8')).toMatch(/galaxy_runs_total\{[^}]*status="failed"/);
});

test('the browser bundle holds no server-only code', () => {
  const pkg = path.join(process.env.GALAXY_E2E_SITE_ROOT!, 'pkg');
  const files = fs.readdirSync(pkg).map((f) => path.join(pkg, f));
  const wasm = files.filter((f) => f.endsWith('.wasm'));
  const js = files.filter((f) => f.endsWith('.js'));
  // Every module of the split bundle: the main one and each page group's (and their chunks).
  expect(wasm.filter((f) => /\/galaxy\.[0-9a-f]{16}\.wasm$/.test(f))).toHaveLength(1);
  for (const group of ['public', 'dashboard', 'agentlist', 'agents', 'workbench', 'versions', 'runs', 'settings']) {
    expect(wasm.filter((f) => path.basename(f).startsWith(`split_${group}.`)), `module ${group}`).toHaveLength(1);
  }
  expect(js.length).toBeGreaterThanOrEqual(2);
  const all = Buffer.concat(files.map((f) => fs.readFileSync(f)));
  // The real bundle: the key form's words are in it.
  expect(all.includes(Buffer.from('Save key'))).toBe(true);
  assertClean('the bundle', all);
  for (const marker of ['INSERT INTO', 'password_hash', 'provider_credentials', 'argon2', 'x-api-key', 'GALAXY_KEYRING', 'keyring.json']) {
    expect(all.includes(Buffer.from(marker)), `the bundle contains ${marker}`).toBe(false);
  }
});
