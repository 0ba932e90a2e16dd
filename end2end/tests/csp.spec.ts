import { test, expect } from '@playwright/test';
import { createAgent, hydrated, signUp, uniqueEmail } from './helpers';

// The pages' Content-Security-Policy (this origin only, the WASM bundle, Leptos' inline scripts
// by nonce) must not block anything the app does: hydration, navigation, server functions and a
// streamed run. Any violation is reported by the browser and fails the test.
test('the app hydrates and runs a streamed mock run under its CSP, with no violation', async ({ page }) => {
  const violations: string[] = [];
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`csp-violation ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on('console', (m) => {
    if (/csp-violation|Content Security Policy/.test(m.text())) violations.push(m.text());
  });
  const response = await page.goto('/login');
  const csp = response?.headers()['content-security-policy'] ?? '';
  expect(csp).toContain("'wasm-unsafe-eval'");
  expect(csp).toContain("'nonce-");
  expect(csp).not.toContain('unsafe-inline');
  await hydrated(page);

  await signUp(page, 'Csp', uniqueEmail('csp'));
  await createAgent(page, { name: 'Under CSP' });
  const panel = page.locator('section.test-panel');
  await panel.getByLabel('Input').fill('Hello under a strict policy — ünïcödé too.');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();
  expect(violations).toEqual([]);
});
