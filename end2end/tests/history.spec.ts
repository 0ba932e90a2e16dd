// Looking back, as a new user would: run an agent, edit its prompt and run it again, find the
// runs, open one and see its attempts, compare the two (the prompt change and the output
// change), replay one on the older version, restore that version — with JavaScript, and the
// list, detail, compare and version pages again with JavaScript off; the dashboard's charts.
import { expect, test } from '@playwright/test';
import { createAgent, hydrated, signUp, uniqueEmail } from './helpers';

async function runIt(page, input: string): Promise<string> {
  const panel = page.locator('section.test-panel');
  await panel.getByLabel('Input').fill(input);
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.locator('.run-result [data-status="succeeded"]')).toBeVisible();
  return (await panel.locator('.run-result').getAttribute('data-run-id')) ?? '';
}

test('run, edit, compare, replay on the older version, restore it', async ({ page, browser }) => {
  await signUp(page, 'Looking back', uniqueEmail('history'));
  await createAgent(page, { name: 'Support triage' });
  const agentUrl = page.url();
  await page.getByLabel('System prompt').fill('Answer briefly.');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByRole('status')).toContainText('Saved as version 2.');
  const first = await runIt(page, 'my printer is on fire');
  await runIt(page, 'a different question');
  await page.getByLabel('System prompt').fill('Answer at length, citing sources.');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByRole('status')).toContainText('Saved as version 3.');
  const second = await runIt(page, 'my printer is on fire');

  // The runs page: filter by text, then pick the two runs with the same input.
  await page.goto('/runs?q=printer');
  await hydrated(page);
  await expect(page.locator('table.runs tbody tr')).toHaveCount(2);
  await page.locator(`tr[data-run-id="${first}"] input[type="checkbox"]`).check();
  await page.locator(`tr[data-run-id="${second}"] input[type="checkbox"]`).check();
  await page.getByRole('button', { name: 'Compare the two ticked runs' }).click();
  await expect(page.getByRole('heading', { name: 'Compare runs', level: 1 })).toBeVisible();
  const promptDiff = page.locator('[data-field-diff="System prompt"]');
  await expect(promptDiff.locator('del')).toHaveText('Answer briefly.');
  await expect(promptDiff.locator('ins')).toHaveText('Answer at length, citing sources.');
  await expect(page.getByLabel('Output changes').locator('ins').first()).toBeVisible();
  await expect(page.locator('[data-compare="a"]')).toHaveAttribute('href', `/runs/${first}`);

  // The second run: its attempts, its version, and "compare with the previous run".
  await page.goto(`/runs/${second}`);
  await hydrated(page);
  await expect(page.locator('tr[data-attempt="1"]')).toBeVisible();
  await expect(page.locator('[data-detail="version"]')).toHaveText('version 3');
  await expect(page.locator('[data-detail="price_version"]')).not.toHaveText('—');
  await expect(page.locator('[data-action="compare-previous"]')).toBeVisible();

  // Replay it on version 2: the new run opens side by side with it.
  await page.getByLabel('Version').selectOption('2');
  await page.getByRole('button', { name: 'Replay' }).click();
  await expect(page).toHaveURL(new RegExp(`/runs/compare\\?a=${second}&b=`));
  await expect(page.locator('[data-replay="b"]')).toHaveText('Run B replays run A.');
  await expect(page.locator('[data-field-diff="System prompt"] ins')).toHaveText('Answer briefly.');
  // Same version and input as the first run: the same configuration and the same answer.
  const replayed = new URL(page.url()).searchParams.get('b') ?? '';
  await page.goto(`/runs/compare?a=${first}&b=${replayed}`);
  await expect(page.locator('[data-config-diff="same"]')).toBeVisible();
  await expect(page.getByLabel('Output changes').locator('ins, del')).toHaveCount(0);

  // Versions: what changed, then restore version 2.
  await page.goto(`${agentUrl}/versions`);
  await hydrated(page);
  await expect(page.locator('tr[data-version]')).toHaveCount(3);
  await expect(page.locator('tr[data-version="3"] [data-summary]')).toHaveText('System prompt');
  await page.locator('tr[data-version="2"] a').click();
  await hydrated(page);
  await page.getByRole('button', { name: 'Restore version 2' }).click();
  await expect(page).toHaveURL(agentUrl);
  await hydrated(page);
  await expect(page.getByLabel('System prompt')).toHaveValue('Answer briefly.');
  await page.goto(`${agentUrl}/versions`);
  await expect(page.locator('tr[data-version="4"] [data-summary]')).toHaveText('Restored from version 2');

  // The dashboard's charts count the runs.
  await page.goto('/?range=24h');
  await expect(page.locator('figure[data-chart="runs"] svg[role="img"]')).toBeVisible();
  await expect(page.locator('figure[data-chart="runs"] desc')).toContainText('4 runs, 4 succeeded');

  // Without JavaScript: the list, a run, the comparison and the versions read the same.
  const cookies = await page.context().cookies();
  const noJs = await browser.newContext({ javaScriptEnabled: false, baseURL: new URL(page.url()).origin });
  await noJs.addCookies(cookies);
  const plain = await noJs.newPage();
  await plain.goto('/runs?q=printer');
  await expect(plain.locator('table.runs tbody tr')).toHaveCount(3);
  await plain.goto(`/runs/${second}`);
  await expect(plain.locator('tr[data-attempt="1"]')).toBeVisible();
  await plain.goto(`/runs/compare?a=${first}&b=${second}`);
  await expect(plain.locator('[data-field-diff="System prompt"] del')).toHaveText('Answer briefly.');
  await plain.goto(`${agentUrl}/versions`);
  await expect(plain.locator('tr[data-version]')).toHaveCount(4);
  // A replay from a plain form lands on the comparison too.
  await plain.goto(`/runs/${first}`);
  await plain.getByLabel('Version').selectOption('3');
  await plain.getByRole('button', { name: 'Replay' }).click();
  await expect(plain).toHaveURL(new RegExp(`/runs/compare\\?a=${first}&b=`));
  await expect(plain.locator('[data-replay="b"]')).toBeVisible();
  await noJs.close();
});
