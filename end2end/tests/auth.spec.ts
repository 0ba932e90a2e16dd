import { expect, test } from '@playwright/test';
import { createAgent, hydrated, signUp, uniqueEmail } from './helpers';

test('a logged-out visitor is sent to log in', async ({ page }) => {
  for (const path of ['/', '/agents', '/agents/new', '/agents/00000000-0000-7000-8000-000000000000']) {
    await page.goto(path);
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  }
});

test('log out, then log in again; a wrong password is refused', async ({ page }) => {
  const email = uniqueEmail('kay');
  await signUp(page, 'Kay', email);
  await expect(page.getByText('Kay · Kay\'s workspace')).toBeVisible();
  await hydrated(page);
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/agents');
  await expect(page).toHaveURL(/\/login$/);

  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Email or password is incorrect.');

  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
});

test('sign-up errors are shown on their fields', async ({ page }) => {
  const email = uniqueEmail('dup');
  await signUp(page, 'First', email);
  await page.context().clearCookies();
  await page.goto('/signup');
  await hydrated(page);
  await page.getByLabel('Name').fill('Second');
  await page.getByLabel('Email').fill(email.toUpperCase());
  await page.getByLabel('Password').fill('another password');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.locator('#email-error')).toContainText('already exists');
});

test("a second user can neither see nor open the first user's agent", async ({ browser }) => {
  const alice = await browser.newContext();
  const a = await alice.newPage();
  await signUp(a, 'Alice', uniqueEmail('alice'));
  await createAgent(a, { name: 'Alice secret agent' });
  const agentUrl = a.url();
  const agentId = agentUrl.split('/').pop()!;

  const bob = await browser.newContext();
  const b = await bob.newPage();
  await signUp(b, 'Bob', uniqueEmail('bob'));
  await b.goto('/agents');
  await expect(b.getByText('No agents yet.')).toBeVisible();
  await expect(b.getByText('Alice secret agent')).toHaveCount(0);

  const response = await b.goto(agentUrl);
  expect(response?.status()).toBe(404);
  await expect(b.getByRole('alert')).toContainText('Not found');
  await expect(b.getByText('Alice secret agent')).toHaveCount(0);

  // The server functions say the same when called directly with Bob's session.
  const direct = await b.request.post('/api/get_agent', { form: { id: agentId }, failOnStatusCode: false });
  expect([404]).toContain(direct.status());

  await alice.close();
  await bob.close();
});
