// With JavaScript off: pages are complete server-rendered HTML and the account forms still work.
import { expect, test } from '@playwright/test';
import { createAgent, signUp, uniqueEmail } from './helpers';

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

test('saving an agent without JavaScript keeps its contracts', async ({ page, browser }) => {
  const email = uniqueEmail('plain-agent');
  // The agent is built with JavaScript (the schema editor needs it)…
  const withJs = await browser.newContext({ javaScriptEnabled: true });
  const js = await withJs.newPage();
  await signUp(js, 'Plain', email);
  await createAgent(js, {
    name: 'Kept contracts',
    inputSchema: '{"type":"object","properties":{"question":{"type":"string"}},"required":["question"]}',
    outputSchema: '{"type":"object","properties":{"answer":{"type":"string"}}}',
    template: 'Q: {{ question }}',
    repair: true,
  });
  await withJs.close();

  // …and saved again without it: the form posts the schemas it shows, so nothing is lost.
  await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/$/);
  await page.goto('/agents');
  await page.getByRole('link', { name: 'Kept contracts' }).click();
  await expect(page.locator('[data-schema="input_schema"] [data-field="question"]')).toBeVisible();
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByText(/version 2/)).toBeVisible();
  await expect(page.locator('[data-schema="input_schema"] [data-field="question"]')).toBeVisible();
  await expect(page.locator('[data-schema="output_schema"] [data-field="answer"]')).toBeVisible();
  await expect(page.getByLabel('Prompt template')).toHaveValue('Q: {{ question }}');
  await expect(page.getByLabel('Repair invalid output once')).toBeChecked();
  // The generated form renders on the server too.
  await expect(page.locator('section.test-panel').getByLabel('question')).toBeVisible();
});
