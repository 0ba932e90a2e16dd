// Typed agent contracts: build input and output schemas without writing JSON, see the JSON,
// get a generated input form, and never send invalid input.
import { expect, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { hydrated, signUp, uniqueEmail } from './helpers';

function runsInDb(agentName: string): number {
  return Number(
    execFileSync('sqlite3', [
      path.join(process.env.GALAXY_E2E_DATA_DIR!, 'galaxy.db'),
      `SELECT COUNT(*) FROM runs WHERE agent_name = '${agentName}'`,
    ])
      .toString()
      .trim(),
  );
}

test('build a contract visually, run with a generated form, invalid input is never sent', async ({ page }) => {
  await signUp(page, 'Tess', uniqueEmail('tess'));
  await page.goto('/agents/new');
  await hydrated(page);
  const agentName = `Support reply ${Date.now()}`;
  await page.getByLabel('Name', { exact: true }).fill(agentName);

  // Input schema, visually: question (text, min length 5), tone (one of), count (whole number).
  const input = page.locator('[data-schema="input_schema"]');
  await input.getByRole('button', { name: 'Define fields' }).click();
  const f1 = input.locator('li.schema-field').nth(0);
  await expect(f1.getByLabel('Name')).toBeFocused();
  await f1.getByLabel('Name').fill('question');
  // Buttons are named after the field as it is typed.
  await expect(f1.getByRole('button', { name: 'Remove question' })).toBeVisible();
  await f1.getByLabel('Min length').fill('5');

  await input.getByRole('button', { name: 'Add field' }).click();
  const f2 = input.locator('li.schema-field').nth(1);
  await expect(f2.getByLabel('Name')).toBeFocused();
  await f2.getByLabel('Name').fill('tone');
  await f2.getByLabel('Type').selectOption('enum');
  await f2.getByLabel('Allowed values').fill('formal\ncasual');
  await f2.getByLabel('Required').check();

  await input.getByRole('button', { name: 'Add field' }).click();
  const f3 = input.locator('li.schema-field').nth(2);
  await f3.getByLabel('Name').fill('count');
  await f3.getByLabel('Type').selectOption('integer');
  await f3.getByLabel('Maximum').fill('3');
  await f3.getByLabel('Minimum').fill('x');
  await expect(f3.locator('.field-error')).toContainText('"x" is not a number');
  await f3.getByLabel('Minimum').fill('1');
  await expect(f3.locator('.field-error')).toHaveCount(0);

  // Reorder with the keyboard: focus stays on the moved field's button.
  await f3.getByRole('button', { name: 'Move count up' }).focus();
  await page.keyboard.press('Enter');
  await expect(input.locator('li.schema-field').nth(1)).toHaveAttribute('data-field', 'count');
  await expect(input.getByRole('button', { name: 'Move count up' })).toBeFocused();

  // The JSON tab shows the schema the fields describe, in their order (arrow keys switch tabs).
  await input.getByRole('tab', { name: 'Fields' }).focus();
  await page.keyboard.press('ArrowRight');
  await expect(input.getByRole('tab', { name: 'JSON' })).toHaveAttribute('aria-selected', 'true');
  await expect(input.getByRole('tab', { name: 'JSON' })).toBeFocused();
  const area = input.locator('[data-json="input_schema"]');
  const built = await area.inputValue();
  expect(JSON.parse(built)).toEqual({
    type: 'object',
    properties: {
      question: { type: 'string', minLength: 5 },
      count: { type: 'integer', minimum: 1, maximum: 3 },
      tone: { type: 'string', enum: ['formal', 'casual'] },
    },
    required: ['question', 'tone'],
    additionalProperties: false,
  });
  expect(Object.keys(JSON.parse(built).properties)).toEqual(['question', 'count', 'tone']);
  // A typing error in the JSON tab is reported and loses nothing; a fix flows back to the fields.
  await area.fill(built.replace('"maximum": 3', '"maximum": 3,'));
  await expect(input.getByRole('alert')).toContainText('not valid JSON');
  await expect(area).toHaveValue(built.replace('"maximum": 3', '"maximum": 3,'));
  // Structural edits flow back too: the JSON moves count to the end.
  const withDescription = JSON.stringify({
    ...JSON.parse(built),
    properties: {
      question: { type: 'string', minLength: 5, description: 'What the customer asks' },
      tone: { type: 'string', enum: ['formal', 'casual'] },
      count: { type: 'integer', minimum: 1, maximum: 3 },
    },
  });
  await area.fill(withDescription);
  await expect(input.getByRole('alert')).toHaveCount(0);
  await input.getByRole('tab', { name: 'Fields' }).click();
  const q = input.locator('li.schema-field').nth(0);
  await expect(q.getByLabel('Description')).toHaveValue('What the customer asks');
  await expect(q.getByLabel('Required')).toBeChecked();
  await expect(input.locator('li.schema-field').nth(2)).toHaveAttribute('data-field', 'count');

  // A list of text, at most two items.
  await input.getByRole('button', { name: 'Add field' }).click();
  const f4 = input.locator('li.schema-field').nth(3);
  await f4.getByLabel('Name').fill('tags');
  await f4.getByLabel('Type').first().selectOption('array');
  await expect(f4.getByLabel('Each item is')).toHaveValue('string');
  await f4.getByLabel('Max items').fill('2');

  // Output schema, visually: answer (text) and code (text matching a pattern), both required.
  const output = page.locator('[data-schema="output_schema"]');
  await output.getByRole('button', { name: 'Define fields' }).click();
  const o1 = output.locator('li.schema-field').nth(0);
  await o1.getByLabel('Name').fill('answer');
  await output.getByRole('button', { name: 'Add field' }).click();
  const o2 = output.locator('li.schema-field').nth(1);
  await o2.getByLabel('Name').fill('code');
  await o2.getByLabel('Pattern').fill('^[A-Z]{3}-[0-9]{2}$');
  await o2.getByLabel('Required').check();

  // The template's fields are listed; a name the input schema lacks is flagged.
  const template = page.getByLabel('Prompt template');
  await template.fill('Answer in a {{ tone }} tone: {{ question }} {{ topic }}');
  await expect(page.locator('[data-template-uses]')).toHaveAttribute('data-template-uses', 'question,tone,topic');
  await expect(page.locator('.template-fields .warn')).toContainText('topic');
  await template.fill('Answer in a {{ tone }} tone: {{ question }}');
  await expect(page.locator('[data-template-uses]')).toHaveAttribute('data-template-uses', 'question,tone');
  await expect(page.locator('.template-fields .warn')).toHaveCount(0);

  await page.getByRole('button', { name: 'Create agent' }).click();
  await expect(page).toHaveURL(/\/agents\/[0-9a-f-]{36}$/);
  await hydrated(page);

  // The test panel has a form generated from the input schema.
  const panel = page.locator('section.test-panel');
  let sent = 0;
  page.on('request', (r) => {
    if (r.url().includes('/api/run_agent')) sent += 1;
  });
  const question = panel.getByLabel('question');
  await expect(question).toHaveAttribute('aria-required', 'true');
  await expect(panel.getByText('What the customer asks')).toBeVisible();
  await question.fill('Hi');
  await expect(panel.locator('[data-error-for="/question"]')).toContainText('at least 5');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.locator('[data-error-for="/tone"]')).toContainText('Required');
  await panel.getByLabel('count').fill('9');
  await expect(panel.locator('[data-error-for="/count"]')).toContainText('at most 3');
  await expect(question).toHaveAttribute('aria-invalid', 'true');
  // Lists get add and remove; their limits are checked like everything else.
  for (let i = 0; i < 3; i++) await panel.getByRole('button', { name: 'Add to tags' }).click();
  await expect(panel.locator('[data-error-for="/tags"]')).toContainText('at most 2 items');
  await panel.getByRole('button', { name: 'Remove Item 3' }).click();
  await expect(panel.locator('[data-error-for="/tags"]')).toHaveCount(0);
  await panel.getByRole('textbox', { name: 'Item 1', exact: true }).fill('shipping');
  await panel.getByRole('textbox', { name: 'Item 2', exact: true }).fill('late');
  expect(sent).toBe(0);
  expect(runsInDb(agentName)).toBe(0);

  // Fixed: the run goes through and its output matches the output schema.
  await question.fill('Where is my order?');
  await panel.getByLabel('tone').selectOption('casual');
  await panel.getByLabel('count').fill('2');
  await expect(panel.locator('.input-form .field-error')).toHaveCount(0);
  await panel.getByRole('button', { name: 'Run' }).click();
  const result = panel.locator('.run-result');
  await expect(result.locator('[data-status="succeeded"]')).toBeVisible();
  const out = JSON.parse(await result.getByLabel('Output').innerText());
  expect(typeof out.answer).toBe('string');
  expect(out.code).toMatch(/^[A-Z]{3}-[0-9]{2}$/);
  expect(sent).toBe(1);
  expect(runsInDb(agentName)).toBe(1);

  // Raw JSON mode edits the same value; invalid JSON input is held back with the reason.
  await panel.getByRole('button', { name: 'Edit as JSON' }).click();
  const raw = panel.getByLabel('Input (JSON matching the input schema)');
  expect(JSON.parse(await raw.inputValue())).toEqual({
    question: 'Where is my order?',
    tone: 'casual',
    count: 2,
    tags: ['shipping', 'late'],
  });
  await raw.fill('{"question": "Where is it?", "tone": "rude"}');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(panel.locator('pre.field-error')).toContainText('/tone');
  expect(sent).toBe(1);
  await raw.fill('{"question": "Where is it?", "tone": "formal"}');
  await panel.getByRole('button', { name: 'Back to the form' }).click();
  await expect(panel.getByLabel('question')).toHaveValue('Where is it?');
  await expect(panel.getByLabel('tone')).toHaveValue('formal');
});

test('a hand-written schema the fields cannot show is kept, listed, and enforced by the server', async ({ page }) => {
  await signUp(page, 'Hana', uniqueEmail('hana'));
  await page.goto('/agents/new');
  await hydrated(page);
  const agentName = `Hand written ${Date.now()}`;
  await page.getByLabel('Name', { exact: true }).fill(agentName);
  const input = page.locator('[data-schema="input_schema"]');
  await input.getByRole('tab', { name: 'JSON' }).click();
  const schema = {
    type: 'object',
    properties: { id: { oneOf: [{ type: 'string' }, { type: 'integer' }] } },
    required: ['id'],
  };
  await input.locator('[data-json="input_schema"]').fill(JSON.stringify(schema));
  await expect(input.locator('.notice')).toContainText('/properties/id: oneOf');
  await input.getByRole('tab', { name: 'Fields' }).click();
  await expect(input.locator('.notice')).toContainText('edit it in the JSON tab');
  await page.getByRole('button', { name: 'Create agent' }).click();
  await expect(page).toHaveURL(/\/agents\/[0-9a-f-]{36}$/);
  await hydrated(page);

  // No form for it: raw JSON, checked by the server, which records the refusal per field.
  const panel = page.locator('section.test-panel');
  await expect(panel.locator('.notice')).toContainText('oneOf');
  await panel.getByLabel('Input (JSON matching the input schema)').fill('{"id": true}');
  await panel.getByRole('button', { name: 'Run' }).click();
  const result = panel.locator('.run-result');
  await expect(result.locator('[data-status="input_invalid"]')).toBeVisible();
  await expect(result.locator('li[data-field="/id"]')).toBeVisible();
  await expect(result.locator('[data-metric="total_tokens"]')).toHaveText('0');
  await panel.getByLabel('Input (JSON matching the input schema)').fill('{"id": 7}');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(result.locator('[data-status="succeeded"]')).toBeVisible();
  expect(runsInDb(agentName)).toBe(2);
});
