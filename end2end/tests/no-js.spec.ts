// With JavaScript off: pages are complete server-rendered HTML and the account forms still work.
import { expect, test } from '@playwright/test';
import { uniqueEmail } from './helpers';

test('sign up and read the dashboard without JavaScript', async ({ page }) => {
  await page.goto('/signup');
  await page.getByLabel('Name').fill('Plain');
  await page.getByLabel('Email').fill(uniqueEmail('plain'));
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
  await expect(page.locator('[data-stat="agents"]')).toHaveText('0');
  await page.goto('/agents');
  await expect(page.getByRole('heading', { name: 'Agents' })).toBeVisible();
});
