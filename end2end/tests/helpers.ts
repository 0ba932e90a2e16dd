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

/**
 * Reads the body of every response the page receives; `check` then asserts every body was
 * readable and none holds the canary key. A browser drops the bodies of a page it navigates
 * away from, so `page.goto` first waits for the network to settle and every body to be read.
 */
export function capture(page: Page) {
  // Requests in flight, so a navigation can wait for the page to go quiet.
  const seen = {
    bodies: [] as { url: string; body: string }[],
    unreadable: [] as string[],
    pending: [] as Promise<void>[],
  };
  let inFlight = 0;
  page.on('request', () => inFlight++);
  page.on('requestfailed', () => inFlight--);
  page.on('requestfinished', (request) => {
    inFlight--;
    seen.pending.push((async () => {
      const response = await request.response();
      if (!response) {
        seen.unreadable.push(`${request.url()} (no response)`);
        return;
      }
      // A redirect has no body of its own; the page it leads to is captured separately.
      if (response.status() >= 300 && response.status() < 400) return;
      try {
        seen.bodies.push({ url: request.url(), body: (await response.body()).toString('latin1') });
      } catch (e) {
        seen.unreadable.push(`${request.url()}: ${e}`);
      }
    })());
  });
  // Waits for the page to go quiet (300 ms without a request in flight: a finished run's
  // follow-up reads start a moment after it), then for every body.
  const settle = async () => {
    const deadline = Date.now() + 10_000;
    let quietSince = Date.now();
    while (Date.now() < deadline) {
      if (inFlight > 0) quietSince = Date.now();
      else if (Date.now() - quietSince >= 300) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(seen.pending);
  };
  const goto = page.goto.bind(page);
  page.goto = async (url, options) => {
    await settle();
    return goto(url, options);
  };
  return {
    /** Waits for every body, then checks there were bodies, all readable, none with the key. */
    async check(atLeast: number) {
      await settle();
      expect(seen.unreadable, 'responses whose body could not be read').toEqual([]);
      expect(seen.bodies.length).toBeGreaterThanOrEqual(atLeast);
      const canary = process.env.GALAXY_E2E_CANARY!;
      for (const { url, body } of seen.bodies) expect(body.includes(canary), `${url} answered the key`).toBe(false);
      return seen.bodies;
    },
  };
}
