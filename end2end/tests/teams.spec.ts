// Teams, as two people would use them: Alice creates the workspace "Acme" and invites Bob as a
// member through a link; Bob (a new account) follows it, signs up, joins, sees Acme's agents
// and runs one but cannot open Provider keys; made an admin he makes an API token; made a
// viewer he can no longer run (his open page is refused, the builder turns read-only, his
// token cannot run); removed, his open page and his token lose Acme at once; every step is in
// Acme's audit log.
import { expect, Page, test } from '@playwright/test';
import { createAgent, hydrated, signUp, uniqueEmail } from './helpers';

async function setRole(page: Page, name: string, role: string) {
  await page.goto('/settings/members');
  await hydrated(page);
  const row = page.locator('tr[data-member]', { hasText: name });
  await row.getByLabel(`Role of ${name}`).selectOption(role);
  await row.getByRole('button', { name: 'Change' }).click();
  await expect(page.locator('tr[data-member]', { hasText: name })).toHaveAttribute('data-role', role);
}

test('Alice invites Bob, changes his role, removes him; the audit log shows it all', async ({ browser, page, request }) => {
  const crashes: string[] = [];
  page.on('pageerror', (e) => crashes.push(String(e)));
  await signUp(page, 'Alice', uniqueEmail('alice'));

  // A second workspace, Acme: the header switches to it.
  await page.goto('/settings/workspace');
  await hydrated(page);
  const create = page.locator('section', { hasText: 'New workspace' });
  await create.getByLabel('Name').fill('   ');
  await create.getByRole('button', { name: 'Create workspace' }).click();
  await expect(create.getByRole('alert')).toContainText('Name the workspace');
  await create.getByLabel('Name').fill('Acme');
  await create.getByRole('button', { name: 'Create workspace' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.locator('#workspace-switcher')).toHaveAttribute('data-workspace', 'Acme');
  await createAgent(page, { name: 'Acme triage' });

  // An invitation link for a member.
  await page.goto('/settings/members');
  await hydrated(page);
  await page.getByLabel('Role').selectOption('member');
  await page.getByRole('button', { name: 'Create invitation link' }).click();
  const link = await page.locator('[data-invite-link]').inputValue();
  expect(link).toMatch(/\/invite\/gxi_[A-Za-z0-9_-]{43}$/);
  await expect(page.locator('tr[data-invite]')).toHaveCount(1);

  // Bob follows it without an account, signs up, and comes back to join.
  const bobContext = await browser.newContext({ baseURL: new URL(page.url()).origin });
  const bob = await bobContext.newPage();
  bob.on('pageerror', (e) => crashes.push(String(e)));
  await bob.goto(link);
  await hydrated(bob);
  await expect(bob.getByRole('heading', { name: 'Join Acme' })).toBeVisible();
  await bob.getByRole('link', { name: 'Create an account to join' }).click();
  await expect(bob).toHaveURL(/\/signup\?next=/);
  await hydrated(bob);
  await bob.getByLabel('Name').fill('Bob');
  await bob.getByLabel('Email').fill(uniqueEmail('bob'));
  await bob.getByLabel('Password').fill('correct horse battery');
  await bob.getByRole('button', { name: 'Sign up' }).click();
  await expect(bob).toHaveURL(/\/invite\/gxi_/);
  await bob.getByRole('button', { name: 'Join Acme' }).click();
  await expect(bob).toHaveURL(/\/$/);
  await expect(bob.locator('#workspace-switcher')).toHaveAttribute('data-workspace', 'Acme');
  await hydrated(bob);

  // A member: Acme's agents, and running one; no provider keys.
  await expect(bob.getByRole('link', { name: 'Provider keys' })).toHaveCount(0);
  await bob.goto('/settings/keys');
  await hydrated(bob);
  await expect(bob.getByRole('alert')).toContainText('does not allow');
  await bob.goto('/agents');
  await hydrated(bob);
  await bob.getByRole('link', { name: 'Acme triage' }).click();
  await expect(bob.getByRole('heading', { name: 'Acme triage', level: 1 })).toBeVisible();
  await hydrated(bob);
  const panel = bob.locator('section.test-panel');
  await panel.getByLabel('Input').fill('hello from Bob');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();

  // Made an admin, Bob makes an API token that runs the agent.
  await setRole(page, 'Bob', 'admin');
  await bob.goto('/settings/tokens');
  await hydrated(bob);
  await bob.getByLabel('Name').fill('bob-ci');
  await bob.getByLabel('read — read agents and runs').check();
  await bob.getByRole('button', { name: 'Create token' }).click();
  const token = (await bob.getByRole('status', { name: 'New token' }).locator('[data-token]').innerText()).trim();
  const auth = { Authorization: `Bearer ${token}` };
  const runBody = { input: 'from the API', mode: 'mock' };
  expect((await request.post('/api/v1/agents/acme-triage/runs', { headers: auth, data: runBody })).status()).toBe(200);

  // Bob keeps the agent page open; Alice makes him a viewer: the open page is refused.
  await bob.goto('/agents');
  await hydrated(bob);
  await bob.getByRole('link', { name: 'Acme triage' }).click();
  await hydrated(bob);
  await setRole(page, 'Bob', 'viewer');
  await panel.getByLabel('Input').fill('after the change');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.getByRole('alert')).toContainText('does not allow');
  expect((await request.post('/api/v1/agents/acme-triage/runs', { headers: auth, data: runBody })).status()).toBe(403);
  expect((await request.get('/api/v1/runs', { headers: auth })).status()).toBe(200);
  // Reloaded, the builder is read-only and there is no Run button.
  await bob.reload();
  await hydrated(bob);
  await expect(bob.locator('[data-viewer="true"]')).toBeVisible();
  await expect(bob.getByRole('button', { name: 'Run' })).toHaveCount(0);
  await expect(bob.getByRole('button', { name: 'Save changes' })).toBeDisabled();

  // Removed: his open page and his token lose Acme at once.
  await page.goto('/settings/members');
  await hydrated(page);
  await page.locator('tr[data-member]', { hasText: 'Bob' }).getByRole('button', { name: 'Remove' }).click();
  await expect(page.locator('tr[data-member]')).toHaveCount(1);
  expect((await request.get('/api/v1/runs', { headers: auth })).status()).toBe(401);
  await bob.reload();
  await expect(bob.getByRole('alert')).toContainText('Not found');
  await expect(bob.locator('#workspace-switcher')).not.toHaveAttribute('data-workspace', 'Acme');

  // Every step, in Acme's audit log.
  await page.goto('/settings/audit');
  await hydrated(page);
  for (const action of [
    'workspace.created',
    'agent.created',
    'member.invited',
    'member.joined',
    'member.role_changed',
    'api_token.created',
    'member.removed',
  ]) {
    await expect(page.locator(`tr[data-audit="${action}"]`).first()).toBeVisible();
  }
  await expect(page.locator('tr[data-audit="member.role_changed"]')).toHaveCount(2);
  // Filtered to role changes, only those.
  await page.getByLabel('What').selectOption('member.role_changed');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/action=member\.role_changed/);
  await expect(page.locator('tbody tr')).toHaveCount(2);
  expect(crashes).toEqual([]);
  await bobContext.close();
});
