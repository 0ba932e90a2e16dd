import { expect, Page } from '@playwright/test';

/** A unique email per call, so tests never collide. */
export function uniqueEmail(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e9)}@example.com`;
}

/** Waits until the WASM has hydrated the page (set by an effect in App). */
export async function hydrated(page: Page) {
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
}

/** Signs up through the UI and lands on the dashboard. */
export async function signUp(page: Page, name: string, email: string, password = 'correct horse battery') {
  await page.goto('/signup');
  await hydrated(page);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
}

/** Creates an agent through the builder and lands on its page. */
export async function createAgent(
  page: Page,
  fields: {
    name: string;
    provider?: string;
    model?: string;
    inputSchema?: string;
    outputSchema?: string;
    template?: string;
    repair?: boolean;
  },
) {
  await page.goto('/agents/new');
  await hydrated(page);
  await page.getByLabel('Name').fill(fields.name);
  if (fields.provider) await page.getByLabel('Provider').selectOption(fields.provider);
  if (fields.model) await page.getByLabel('Model').fill(fields.model);
  if (fields.inputSchema) await fillSchema(page, 'input', fields.inputSchema);
  if (fields.outputSchema) await fillSchema(page, 'output', fields.outputSchema);
  if (fields.template) await page.getByLabel('Prompt template').fill(fields.template);
  if (fields.repair) await page.getByLabel('Repair invalid output once').check();
  await page.getByRole('button', { name: 'Create agent' }).click();
  await expect(page).toHaveURL(/\/agents\/[0-9a-f-]{36}$/);
  await expect(page.getByRole('heading', { name: fields.name, level: 1 })).toBeVisible();
  await hydrated(page);
}

/** Types a schema into the JSON tab of the builder's input or output schema editor. */
export async function fillSchema(page: Page, which: 'input' | 'output', text: string) {
  const editor = page.locator(`[data-schema="${which}_schema"]`);
  await editor.getByRole('tab', { name: 'JSON' }).click();
  await editor.locator(`[data-json="${which}_schema"]`).fill(text);
}
