import { expect, test } from '@playwright/test';
import { hydrated, signUp, uniqueEmail } from './helpers';

test('the account page changes the password, shows activity and signs out everywhere', async ({ page, browser }) => {
  const email = uniqueEmail('account');
  await signUp(page, 'Ada', email);
  // A second browser signed in to the same account.
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await otherPage.goto('/login');
  await hydrated(otherPage);
  await otherPage.getByLabel('Email').fill(email);
  await otherPage.getByLabel('Password').fill('correct horse battery');
  await otherPage.getByRole('button', { name: 'Log in' }).click();
  await expect(otherPage.getByRole('heading', { name: 'Dashboard' })).toBeVisible();

  await page.getByRole('link', { name: /Ada/ }).click();
  await expect(page).toHaveURL(/\/account$/);
  await hydrated(page);
  await expect(page.getByText('Signed in on 2 browsers, this one included.')).toBeVisible();
  await expect(page.locator('tr[data-action="account.signed_up"]')).toHaveCount(1);
  await expect(page.locator('tr[data-action="account.logged_in"]')).toHaveCount(1);
  await expect(page.locator('tr[data-action="account.logged_in"] code')).toHaveText('127.0.0.1');

  // The current password is checked.
  await page.getByLabel('Current password').fill('not my password');
  await page.getByLabel('New password').fill('a brand new password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByText('That is not your current password.')).toBeVisible();
  await page.getByLabel('Current password').fill('correct horse battery');
  await page.getByLabel('New password').fill('a brand new password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByText('Password changed. 1 other session was signed out.')).toBeVisible();
  await expect(page.getByText('Signed in on this browser only.')).toBeVisible();
  await expect(page.locator('tr[data-action="account.password_changed"]')).toHaveCount(1);
  // The other browser was signed out by the change.
  await otherPage.goto('/agents');
  await expect(otherPage).toHaveURL(/\/login$/);
  await other.close();

  // This browser still works, and signing out everywhere ends it too.
  await page.goto('/agents');
  await expect(page.getByRole('heading', { name: 'Agents' })).toBeVisible();
  await page.goto('/account');
  await hydrated(page);
  await page.getByRole('button', { name: 'Sign out everywhere' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/agents');
  await expect(page).toHaveURL(/\/login$/);

  // The new password logs in.
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('a brand new password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
});

test('adding a key after the confirmation window asks for the password first', async ({ page }) => {
  const base = process.env.GALAXY_E2E_SHORT_REAUTH_URL!;
  await page.goto(`${base}/signup`);
  await hydrated(page);
  await page.getByLabel('Name').fill('Grace');
  await page.getByLabel('Email').fill(uniqueEmail('reauth'));
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
  await page.goto(`${base}/settings/keys`);
  await hydrated(page);
  // This server's window is one second: let it pass.
  await page.waitForTimeout(1500);
  await page.getByLabel('Label').fill('later');
  await page.getByLabel('API key').fill('sk-test-needs-confirm-0001');
  await page.getByRole('button', { name: 'Save key' }).click();
  const prompt = page.getByRole('region', { name: 'Confirm your password' });
  await expect(prompt).toBeVisible();
  await expect(page.getByText('No keys yet.')).toBeVisible();
  await prompt.getByLabel('Your password').fill('wrong password');
  await prompt.getByRole('button', { name: 'Confirm password' }).click();
  await expect(prompt.getByText('That is not your current password.')).toBeVisible();
  await prompt.getByLabel('Your password').fill('correct horse battery');
  await prompt.getByRole('button', { name: 'Confirm password' }).click();
  await expect(page.getByText('Password confirmed. Submit again to continue.')).toBeVisible();
  await page.getByRole('button', { name: 'Save key' }).click();
  await expect(page.getByText(/Saved “later”, ending in …0001/)).toBeVisible();
  await expect(page.locator('table.keys tbody tr')).toHaveCount(1);
});
