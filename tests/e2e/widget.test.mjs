// End-to-end tests of the browser side: the <descoberta-search> widget on the demo portal page,
// the dataset page, and the stewardship pages (/admin/insights, /admin/review), in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core), against the real service (target/debug/descoberta, or DESCOBERTA_BIN) on
// the demo catalog, with an OpenAI-compatible fake LLM (fake-llm.mjs) as its LLM.
//
// Run: node --test widget.test.mjs (scripts/e2e does the set-up first).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { draftFor, enrichmentEntry, replyFor } from './fake-llm.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const BIN = path.resolve(REPO, process.env.DESCOBERTA_BIN || 'target/debug/descoberta');
const CHROMIUM = process.env.DESCOBERTA_E2E_CHROMIUM || '/usr/bin/chromium';
const MODEL_DIR = path.join(REPO, 'data', 'models', 'multilingual-e5-small');
// Screenshots go under target/ (ignored); `scripts/screenshots` refreshes the one in docs/.
const SCREENSHOT_DIR = process.env.DESCOBERTA_SCREENSHOT_DIR || path.join(REPO, 'target', 'e2e');
const SCREENSHOT = path.join(SCREENSHOT_DIR, 'widget.png');
const INSIGHTS_SCREENSHOT = path.join(SCREENSHOT_DIR, 'insights.png');
const STARTUP_TIMEOUT_MS = Number(process.env.DESCOBERTA_E2E_STARTUP_TIMEOUT_MS || 240_000);
const RESTRICTED = 'hr.employee_compensation';
const CHURN = 'crm.customer_churn_scores';
const ADMIN_TOKEN = randomBytes(16).toString('hex');
const ADMIN = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const REVENUE = 'finance.daily_revenue';

// ---- child processes: both are killed at the end, on failure, and if this process dies ----

const children = new Set();

function killChildren(signal = 'SIGKILL') {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  }
}

const tempDirs = [];

process.on('exit', () => {
  killChildren('SIGKILL');
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killChildren('SIGKILL');
    process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[signal] ?? 0));
  });
}

async function stopChild(child, name) {
  if (!children.has(child)) return;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
  log(`${name} stopped`);
}

function log(message) {
  process.stderr.write(`# e2e: ${message}\n`);
}

/**
 * Spawns a child and resolves with `ready(line)`'s first non-null result over its stdout and
 * stderr lines; rejects if it exits or the timeout passes first. Keeps the last lines for
 * diagnostics.
 */
function spawnUntilReady(name, command, args, { env, cwd, ready, timeoutMs }) {
  const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines = [];
  child.tail = () => lines.slice(-40).join('\n');
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (error, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve({ child, value });
    };
    const timer = setTimeout(
      () => finish(new Error(`${name} was not ready after ${timeoutMs} ms; last output:\n${child.tail()}`)),
      timeoutMs,
    );
    child.once('error', (error) => finish(new Error(`${name} could not start: ${error.message}`)));
    child.once('exit', (code, signal) =>
      finish(new Error(`${name} exited (code ${code}, signal ${signal}) before it was ready; last output:\n${child.tail()}`)),
    );
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        lines.push(line);
        if (lines.length > 400) lines.shift();
        if (!done) {
          const value = ready(line);
          if (value) finish(null, value);
        }
      });
    }
  });
}

function childEnv(extra) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('DESCOBERTA_')) env[key] = value;
  }
  const noProxy = ['127.0.0.1', 'localhost', env.NO_PROXY || env.no_proxy].filter(Boolean).join(',');
  return { ...env, NO_PROXY: noProxy, no_proxy: noProxy, ...extra };
}

// ---- set-up and tear-down ----

let llm; // { child, origin }
let service; // { child, base }
let context; // the persistent browser context
let portal; // { server, origin }: another origin whose page embeds the widget with the two lines
const pageErrors = [];

before(async () => {
  assert.ok(existsSync(BIN), `the service binary ${BIN} is missing: run cargo build (or set DESCOBERTA_BIN)`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);

  const fake = await spawnUntilReady('fake LLM', process.execPath, [path.join(HERE, 'fake-llm.mjs'), '--port', '0'], {
    env: childEnv({}),
    cwd: HERE,
    ready: (line) => (/^http:\/\/127\.0\.0\.1:\d+\/v1$/.test(line.trim()) ? line.trim() : null),
    timeoutMs: 15_000,
  });
  llm = { child: fake.child, baseUrl: fake.value, origin: fake.value.replace(/\/v1$/, '') };
  log(`fake LLM at ${llm.baseUrl}`);

  // A portal on another origin (another port), allowed by the service's CORS settings.
  const portalServer = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Team portal</title>
<script type="module" src="${service?.base ?? ''}/widget.js"></script></head>
<body><h1>Team portal</h1>
<descoberta-search api="${service?.base ?? ''}"></descoberta-search></body></html>`);
  });
  await new Promise((resolve) => portalServer.listen(0, '127.0.0.1', resolve));
  portal = { server: portalServer, origin: `http://127.0.0.1:${portalServer.address().port}` };

  const dataDir = await mkdtemp(path.join(tmpdir(), 'descoberta-e2e-data-'));
  tempDirs.push(dataDir);
  const env = childEnv({
    DESCOBERTA_LLM_BASE_URL: llm.baseUrl,
    DESCOBERTA_LLM_MODEL: 'fake-aurora',
    DESCOBERTA_LLM_API_KEY: 'sk-e2e-test',
    DESCOBERTA_ADMIN_TOKEN: ADMIN_TOKEN,
    DESCOBERTA_CORS_ALLOWED_ORIGINS: JSON.stringify([portal.origin]),
    RUST_LOG: process.env.RUST_LOG || 'info',
  });
  if (existsSync(path.join(MODEL_DIR, 'e5-small-enpt-q4.bin'))) env.DESCOBERTA_EMBEDDING_MODEL_DIR = MODEL_DIR;
  else log(`no embedding model in ${MODEL_DIR}: the service runs with lexical search only`);
  const started = Date.now();
  const svc = await spawnUntilReady(
    'descoberta',
    BIN,
    ['--bind', '127.0.0.1:0', '--data-dir', dataDir, '--metadata-dir', path.join(REPO, 'metadata'), '--log-format', 'json', 'serve'],
    {
      env,
      cwd: REPO,
      timeoutMs: STARTUP_TIMEOUT_MS,
      ready: (line) => {
        try {
          const event = JSON.parse(line);
          const message = event.message ?? event.fields?.message;
          const address = event.address ?? event.fields?.address;
          return message === 'descoberta ready' && address ? String(address).replace(/\/+$/, '') : null;
        } catch {
          const match = line.match(/descoberta ready.*address=(http:\/\/[^\s"]+)/);
          return match ? match[1].replace(/\/+$/, '') : null;
        }
      },
    },
  );
  service = { child: svc.child, base: svc.value };
  const ready = await fetch(`${service.base}/readyz`);
  assert.equal(ready.status, 200, `GET /readyz answered ${ready.status}`);
  log(`descoberta at ${service.base} (ready in ${Date.now() - started} ms)`);

  const profile = await mkdtemp(path.join(tmpdir(), 'descoberta-e2e-chromium-'));
  tempDirs.push(profile);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
    locale: 'pt-BR',
    timeout: 60_000,
  });
  context.setDefaultTimeout(10_000);
  context.on('page', (page) => {
    page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
  });
});

after(async () => {
  try {
    await context?.close();
  } catch (error) {
    log(`closing the browser failed: ${error.message}`);
  }
  portal?.server.closeAllConnections?.();
  portal?.server.close();
  if (service) await stopChild(service.child, 'descoberta');
  if (llm) await stopChild(llm.child, 'fake LLM');
  killChildren('SIGKILL');
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true }).catch(() => {});
});

// ---- helpers ----

const W = 'descoberta-search';
const sel = {
  input: `${W} input[role="combobox"]`,
  listbox: `${W} [role="listbox"]`,
  option: `${W} [role="option"]`,
  status: `${W} [part~="status"]`,
  searchButton: `${W} [part~="search-button"]`,
  askButton: `${W} [part~="ask-button"]`,
  answer: `${W} [part~="answer"]`,
  results: `${W} [part~="results"]`,
  result: `${W} [part~="results"] [data-dataset]`,
};

async function openPage(url) {
  const page = await context.newPage();
  await page.goto(`${service.base}${url}`);
  await page.waitForFunction(() => customElements.get('descoberta-search') !== undefined || !document.querySelector('descoberta-search'));
  return page;
}

/** Waits until the widget's status has settled (not loading) with some text; returns it. */
async function settledStatus(page, timeout = 10_000) {
  await page.waitForFunction(
    () => {
      const status = document.querySelector('descoberta-search')?.shadowRoot?.querySelector('[part~="status"]');
      return status && status.dataset.state !== 'loading' && status.textContent.trim() !== '';
    },
    null,
    { timeout },
  );
  return (await page.locator(sel.status).textContent()).trim();
}

async function shadowHtml(page) {
  return page.evaluate(() => document.querySelector('descoberta-search').shadowRoot.innerHTML);
}

async function fakeLlmPrompts() {
  const response = await fetch(`${llm.origin}/prompts`);
  assert.equal(response.status, 200);
  return response.json();
}

function assertNoPageErrors() {
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A request to the service from the test itself: {status, json (null if not JSON), text}. */
async function api(pathname, { method = 'GET', body, headers = {} } = {}) {
  const response = await fetch(`${service.base}${pathname}`, {
    method,
    headers: { Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, json, text };
}

/** Signs in on a stewardship page (its #signin form) with `token`. */
async function signIn(page, token = ADMIN_TOKEN) {
  await page.locator('#signin').waitFor();
  await page.locator('#token').fill(token);
  await page.locator('#signin [type="submit"]').click();
}

// ---- the tests ----

test('a. typeahead: suggestions appear, ArrowDown moves, Enter picks one and shows results', { timeout: 60_000 }, async () => {
  const page = await openPage('/');
  const suggestRequests = [];
  page.on('request', (request) => {
    if (request.url().includes('/v1/suggest')) suggestRequests.push(request.url());
  });
  const input = page.locator(sel.input);
  await input.click();
  await input.pressSequentially('churn', { delay: 40 });
  await page.locator(sel.listbox).waitFor({ state: 'visible' });
  const options = page.locator(sel.option);
  const count = await options.count();
  assert.ok(count >= 2, `expected suggestions for "churn", got ${count}`);
  assert.equal(await input.getAttribute('aria-expanded'), 'true');
  // Debounced: about one request for the whole word typed quickly, not one per key.
  assert.ok(suggestRequests.length >= 1 && suggestRequests.length <= 3, `suggest requests: ${suggestRequests.join(', ')}`);
  assert.ok(suggestRequests.at(-1).includes('q=churn'));
  const texts = await options.evaluateAll((nodes) => nodes.map((n) => n.dataset.value));
  assert.ok(texts.every((t) => /churn/i.test(t)), `suggestions: ${texts.join(', ')}`);

  await input.press('ArrowDown');
  assert.equal(await options.nth(0).getAttribute('aria-selected'), 'true');
  assert.equal(await input.getAttribute('aria-activedescendant'), await options.nth(0).getAttribute('id'));
  await input.press('ArrowDown');
  assert.equal(await options.nth(0).getAttribute('aria-selected'), 'false');
  assert.equal(await options.nth(1).getAttribute('aria-selected'), 'true');
  assert.equal(await input.getAttribute('aria-activedescendant'), await options.nth(1).getAttribute('id'));
  const picked = await options.nth(1).getAttribute('data-value');

  await input.press('Enter');
  await page.locator(sel.result).first().waitFor();
  assert.equal(await input.inputValue(), picked, 'Enter fills the input with the suggestion');
  assert.equal(await page.locator(sel.listbox).isHidden(), true);
  assert.equal(await input.getAttribute('aria-expanded'), 'false');
  const status = await settledStatus(page);
  assert.ok(status.includes(picked), `status names the query: ${status}`);
  assert.match(status, /\d/);
  const results = page.locator(sel.result);
  assert.ok((await results.count()) >= 1);
  const names = await results.evaluateAll((nodes) => nodes.map((n) => n.dataset.dataset));
  assert.ok(names.some((n) => picked === n || picked.startsWith(`${n}.`)), `a result for ${picked}: ${names.join(', ')}`);
  const first = results.first();
  const name = names[0];
  // Each result: a link to its dataset page, a sensitivity badge, owner and its matching columns.
  const href = await first.locator('a[part~="result-link"]').getAttribute('href');
  assert.equal(href, `${service.base}/datasets/${encodeURIComponent(name)}`);
  assert.equal(await first.locator('a[part~="result-link"]').textContent(), name);
  assert.ok(await first.locator('.badge').isVisible());
  assert.ok((await first.locator('.meta').textContent()).length > 0);
  assert.ok((await first.locator('.cols li').count()) >= 1, 'matching columns are listed');
  assert.ok((await first.locator('mark').count()) >= 1, 'highlights are rendered as <mark>');
  // The search went into the address (a shareable link).
  assert.equal(new URL(page.url()).searchParams.get('q'), picked);
  assertNoPageErrors();
  await page.close();
});

test('b. keyboard and ARIA: combobox pattern, Esc closes then clears', { timeout: 60_000 }, async () => {
  const page = await openPage('/');
  const input = page.locator(sel.input);
  assert.equal(await input.getAttribute('role'), 'combobox');
  assert.equal(await input.getAttribute('aria-autocomplete'), 'list');
  assert.equal(await input.getAttribute('aria-expanded'), 'false');
  const listboxId = await input.getAttribute('aria-controls');
  assert.ok(listboxId);
  assert.equal(await page.locator(`${W} #${listboxId}`).getAttribute('role'), 'listbox');
  // A label exists (visually hidden) and gives the input its accessible name.
  const label = await input.evaluate((el) => el.labels?.[0]?.textContent?.trim() ?? '');
  assert.ok(label.length > 0, 'the input has a label');
  assert.equal(await page.getByRole('combobox', { name: label }).count(), 1);
  assert.ok(await page.locator(`${W} [role="status"][aria-live="polite"]`).count(), 'a live region for status');

  await input.focus();
  const outline = await input.evaluate((el) => getComputedStyle(el).outlineWidth);
  assert.notEqual(outline, '0px', 'a visible focus ring on the input');

  await input.pressSequentially('custo', { delay: 30 });
  await page.locator(sel.listbox).waitFor({ state: 'visible' });
  assert.equal(await input.getAttribute('aria-expanded'), 'true');
  const n = await page.locator(sel.option).count();
  assert.ok(n >= 1);
  await input.press('ArrowDown');
  assert.ok(await input.getAttribute('aria-activedescendant'));
  await input.press('ArrowUp'); // back to the text: nothing highlighted
  assert.equal(await input.getAttribute('aria-activedescendant'), null);
  await input.press('ArrowUp'); // wraps to the last suggestion
  assert.equal(await page.locator(sel.option).nth(n - 1).getAttribute('aria-selected'), 'true');

  await input.press('Escape');
  assert.equal(await page.locator(sel.listbox).isHidden(), true, 'Esc closes the list');
  assert.equal(await input.getAttribute('aria-expanded'), 'false');
  assert.equal(await input.getAttribute('aria-activedescendant'), null);
  assert.equal(await input.inputValue(), 'custo', 'the first Esc keeps the text');

  await input.press('ArrowDown'); // reopens the same suggestions
  assert.equal(await input.getAttribute('aria-expanded'), 'true');
  assert.equal(await page.locator(sel.listbox).isVisible(), true);
  await input.press('Escape');
  assert.equal(await input.getAttribute('aria-expanded'), 'false');
  await input.press('Escape');
  assert.equal(await input.inputValue(), '', 'the second Esc clears the text');

  // Enter with nothing highlighted runs the search for the typed text.
  await input.pressSequentially('payments', { delay: 20 });
  await input.press('Enter');
  const status = await settledStatus(page);
  assert.ok(status.includes('payments'), status);
  assert.ok((await page.locator(sel.result).count()) >= 1);
  assert.equal(await input.getAttribute('aria-expanded'), 'false');
  // Suggestions that arrive after the search started never reopen the list.
  await page.waitForTimeout(400);
  assert.equal(await input.getAttribute('aria-expanded'), 'false');
  assertNoPageErrors();
  await page.close();
});

test('c. Ask streams an answer, then shows the final answer and its datasets', { timeout: 60_000 }, async () => {
  const page = await openPage('/');
  const question = 'where is customer churn data?';
  const input = page.locator(sel.input);
  await input.fill(question);
  // Record every state the answer panel goes through.
  await page.evaluate(() => {
    const answer = document.querySelector('descoberta-search').shadowRoot.querySelector('[part~="answer"]');
    window.__answerSnapshots = [];
    new MutationObserver(() => {
      window.__answerSnapshots.push({
        state: answer.dataset.state,
        text: answer.querySelector('.answer-text')?.textContent ?? '',
      });
    }).observe(answer, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  const before = (await fakeLlmPrompts()).length;
  await page.locator(sel.askButton).click();
  await page.locator(`${sel.answer}[data-state="done"]`).waitFor({ timeout: 30_000 });

  const prompts = (await fakeLlmPrompts()).slice(before);
  assert.ok(prompts.length >= 1, 'the fake LLM received the question');
  const prompt = prompts.find((p) => p.includes(question));
  assert.ok(prompt, 'the prompt carries the question');
  const expected = JSON.parse(replyFor(prompt));
  const finalText = (await page.locator(`${sel.answer} .answer-text`).textContent()).trim();
  assert.equal(finalText, expected.answer, 'the final answer is the LLM answer');
  assert.ok(finalText.includes(CHURN), `the answer names the churn dataset: ${finalText}`);

  const snapshots = await page.evaluate(() => window.__answerSnapshots);
  const partial = snapshots.filter((s) => s.state === 'streaming' && s.text.length > 0 && s.text.length < finalText.length);
  assert.ok(partial.length >= 2, `tokens were shown as they arrived (${partial.length} partial states)`);
  assert.ok(finalText.startsWith(partial[0].text.trim().split(' ')[0]), 'the streamed text is the start of the answer');

  // Dataset links from the done event, the mode shown discreetly.
  const links = page.locator(`${sel.answer} [data-answer-dataset] a`);
  assert.deepEqual(
    await links.evaluateAll((nodes) => nodes.map((n) => n.textContent)),
    expected.datasets.map((d) => d.dataset),
  );
  assert.equal(await links.first().getAttribute('href'), `${service.base}/datasets/${encodeURIComponent(expected.datasets[0].dataset)}`);
  assert.equal(await page.locator(`${sel.answer} [data-mode="llm"]`).count(), 1, 'mode llm is shown');
  assert.equal(await page.locator(`${sel.answer} a[href$="/datasets/${CHURN}"]`).first().isVisible(), true);
  assert.equal(await page.locator(`${sel.answer}`).getAttribute('aria-busy'), 'false');
  assertNoPageErrors();
  await page.close();
});

test('d. /?q=churn runs the search on load', { timeout: 30_000 }, async () => {
  const page = await context.newPage();
  await page.goto(`${service.base}/?q=churn`);
  await page.waitForFunction(
    (name) => !!document.querySelector('descoberta-search')?.shadowRoot?.querySelector(`[part~="results"] [data-dataset="${name}"]`),
    CHURN,
    { timeout: 3_000 },
  );
  assert.equal(await page.locator(sel.input).inputValue(), 'churn');
  const result = page.locator(`${sel.results} [data-dataset="${CHURN}"]`);
  assert.equal(await result.locator('a[part~="result-link"]').getAttribute('href'), `${service.base}/datasets/${CHURN}`);
  assert.ok((await result.locator('.cols li[data-column="churn_probability"]').count()) === 1, 'its matching columns');
  assertNoPageErrors();
  await page.close();
});

test('e. the restricted dataset never reaches the widget nor the LLM', { timeout: 60_000 }, async () => {
  // It exists (an admin sees it); anonymous callers must not.
  const admin = await fetch(`${service.base}/v1/datasets/${RESTRICTED}`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(admin.status, 200, 'the restricted dataset is in the catalog');

  const page = await openPage('/');
  const input = page.locator(sel.input);
  await input.click();
  await input.pressSequentially('employee', { delay: 20 });
  await page.waitForTimeout(500); // the debounced suggestions have come back
  assert.ok(!(await shadowHtml(page)).includes(RESTRICTED), 'not in the suggestions');
  await input.fill('employee salary compensation');
  await input.press('Enter');
  await settledStatus(page);
  let html = await shadowHtml(page);
  assert.ok(!html.includes(RESTRICTED) && !html.includes('employee_compensation'), 'not in the results');

  // Asked outright: nothing visible matches, and the answer says so without naming it.
  const questions = ['where is the employee salary compensation data?', 'employee salary compensation by seller'];
  for (const question of questions) {
    await input.fill(question);
    await page.locator(sel.askButton).click();
    await page.waitForFunction(
      (q) => {
        const answer = document.querySelector('descoberta-search').shadowRoot.querySelector('[part~="answer"]');
        return answer.dataset.state === 'done' && document.querySelector('descoberta-search').shadowRoot.querySelector('input').value === q;
      },
      question,
      { timeout: 30_000 },
    );
    html = await shadowHtml(page);
    const text = await page.evaluate(() => document.querySelector('descoberta-search').shadowRoot.textContent);
    for (const body of [html, text]) {
      assert.ok(!body.includes(RESTRICTED) && !body.includes('employee_compensation'), `not in the answer to "${question}"`);
    }
  }
  // The second question retrieves visible datasets, so it went to the LLM: no prompt names it.
  const prompts = await fakeLlmPrompts();
  assert.ok(prompts.some((p) => p.includes(questions[1])), 'the question reached the LLM');
  for (const prompt of prompts) {
    assert.ok(!prompt.includes(RESTRICTED) && !prompt.includes('employee_compensation'), 'not in any prompt');
  }
  assertNoPageErrors();
  await page.close();
});

test('f. dataset pages: columns of a visible dataset, not-found for the restricted one', { timeout: 60_000 }, async () => {
  const api = await (await fetch(`${service.base}/v1/datasets/${CHURN}`)).json();

  // Reached from a search result, as a person would.
  const page = await openPage('/?q=churn');
  await page.locator(`${sel.results} [data-dataset="${CHURN}"] a[part~="result-link"]`).click();
  await page.waitForURL(`${service.base}/datasets/${CHURN}`);
  await page.locator('#columns tbody tr').first().waitFor();
  assert.equal((await page.locator('h1').textContent()).trim(), CHURN);
  assert.equal(await page.locator('#columns tbody tr').count(), api.columns.length);
  for (const column of ['customer_id', 'churn_probability', 'churn_risk_band']) {
    assert.equal(await page.locator(`#columns tbody tr[data-column="${column}"]`).count(), 1, column);
  }
  const body = await page.locator('body').textContent();
  assert.ok(body.includes(api.owner) && body.includes(api.location), 'owner and location');
  assert.match(await page.title(), new RegExp(CHURN.replace(/\./g, '\\.')));
  // A column link from the results lands on its row.
  await page.goto(`${service.base}/datasets/${CHURN}#column-churn_risk_band`);
  await page.locator('tr.target[data-column="churn_risk_band"]').waitFor();

  await page.goto(`${service.base}/datasets/${RESTRICTED}`);
  await page.locator('#state[data-state="not-found"]').waitFor();
  const message = await page.locator('#state').textContent();
  assert.ok(message.includes(RESTRICTED), message);
  assert.match(message, /não foi encontrado ou não está visível para você|not found or is not visible to you/);
  assert.equal(await page.locator('#content').isHidden(), true);
  assert.ok(!(await page.locator('body').textContent()).includes('salary'), 'no column of it is shown');

  // A service error is said as such.
  await page.route('**/v1/datasets/**', (route) =>
    route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":{"code":"unavailable","message":"no catalog is loaded yet"}}' }),
  );
  await page.goto(`${service.base}/datasets/${CHURN}`);
  await page.locator('#state[data-state="error"]').waitFor();
  assert.match(await page.locator('#state').textContent(), /HTTP 503/);
  assertNoPageErrors();
  await page.close();
});

test('j. dataset pages list related datasets, never a hidden one', { timeout: 60_000 }, async () => {
  const page = await openPage(`/datasets/${CHURN}`);
  await page.locator('#related li').first().waitFor();
  const related = await page.locator('#related li').evaluateAll((items) => items.map((li) => li.dataset.related));
  assert.ok(related.includes('crm.customers'), `churn scores relate to the customers: ${related}`);
  assert.equal(new Set(related).size, related.length, `one entry per related dataset: ${related}`);
  // The customers are both referenced (customer_id) and upstream (lineage): one entry says both.
  assert.match(await page.locator('#related li[data-related="crm.customers"]').textContent(), /customer_id.*;|;.*customer_id/);
  // The link leads to the related dataset's page.
  await page.locator('#related li[data-related="crm.customers"] a').click();
  await page.waitForURL(`${service.base}/datasets/crm.customers`);
  await page.locator('#related li').first().waitFor();
  const back = await page.locator('#related li').evaluateAll((items) => items.map((li) => li.dataset.related));
  assert.ok(back.includes(CHURN), `and back: ${back}`);
  assert.ok(!back.includes(RESTRICTED) && !back.includes('crm.customer_pii'), `no hidden dataset: ${back}`);
  assertNoPageErrors();
  await page.close();
});

test('h. states: empty, service errors, stale suggestions, English labels, snippets never run as HTML', { timeout: 60_000 }, async () => {
  const page = await openPage('/');
  const input = page.locator(sel.input);

  // Empty result.
  await input.fill('xyzzy plugh');
  await input.press('Enter');
  let status = await settledStatus(page);
  assert.match(status, /Nenhum conjunto de dados corresponde a “xyzzy plugh”/);
  assert.equal(await page.locator(sel.result).count(), 0);

  // The service unavailable.
  await page.route('**/v1/search?**', (route) =>
    route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":{"code":"unavailable","message":"no catalog is loaded yet"}}' }),
  );
  await input.fill('pedidos');
  await page.locator(sel.searchButton).click();
  status = await settledStatus(page);
  assert.match(status, /indisponível \(HTTP 503\)/);
  assert.equal(await page.locator(sel.status).getAttribute('data-state'), 'error');
  await page.unroute('**/v1/search?**');

  // English labels and messages.
  await page.evaluate(() => document.querySelector('descoberta-search').setAttribute('lang', 'en'));
  assert.equal((await page.locator(sel.searchButton).textContent()).trim(), 'Search');
  assert.equal((await page.locator(sel.askButton).textContent()).trim(), 'Ask');
  await page.route('**/v1/ask/stream', (route) =>
    route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":{"code":"unavailable","message":"down"}}' }),
  );
  await input.fill('where are the invoices?');
  await page.locator(sel.askButton).click();
  status = await settledStatus(page);
  assert.match(status, /The catalog service is unavailable \(HTTP 503\)/);
  await page.unroute('**/v1/ask/stream');

  // A slow, stale suggestion response is discarded.
  await page.route('**/v1/suggest?**', async (route) => {
    const q = new URL(route.request().url()).searchParams.get('q');
    const body = (text) => JSON.stringify({ query: q, suggestions: [{ text, kind: 'dataset', dataset: text, column: null, description: null }], catalog_version: 1, took_ms: 0 });
    if (q === 'ped') {
      await new Promise((resolve) => setTimeout(resolve, 700));
      await route.fulfill({ contentType: 'application/json', body: body('stale.suggestion') }).catch(() => {});
    } else {
      await route.fulfill({ contentType: 'application/json', body: body('fresh.suggestion') });
    }
  });
  await input.fill('');
  await input.pressSequentially('ped', { delay: 10 });
  await page.waitForTimeout(250); // the request for "ped" is out
  await input.pressSequentially('idos', { delay: 10 });
  await page.locator(`${sel.option}[data-value="fresh.suggestion"]`).waitFor();
  await page.waitForTimeout(900); // the stale answer has arrived by now
  assert.equal(await page.locator(`${sel.option}[data-value="stale.suggestion"]`).count(), 0);
  await page.unroute('**/v1/suggest?**');
  await input.press('Escape');

  // Catalog text is text: only <mark> from snippets becomes markup.
  const evil = '<img src=x onerror="window.__pwned=1">';
  await page.route('**/v1/search?**', (route) =>
    route.fulfill({
      contentType: 'application/json',
      body: JSON.stringify({
        query: 'x', total: 1, limit: 8, offset: 0, catalog_version: 1, took_ms: 1,
        results: [{
          dataset: `evil.${evil}`, description: evil, owner: evil, domain: evil, location: evil,
          sensitivity: 'internal', tags: [evil], score: 1,
          highlights: [{ field: 'description', snippet: '&lt;b&gt;safe&lt;/b&gt; <mark>hit</mark> <img src=x onerror="window.__pwned=2">' }],
          columns: [{ name: evil, description: evil, data_type: evil, score: 1, highlights: [] }],
        }],
      }),
    }),
  );
  await input.fill('x');
  await input.press('Enter');
  await page.locator(`${sel.results} [data-dataset^="evil."]`).waitFor();
  await page.waitForTimeout(200);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.evaluate(() => document.querySelector('descoberta-search').shadowRoot.querySelectorAll('img, b').length), 0);
  const desc = page.locator(`${sel.results} .desc`);
  assert.equal(await desc.locator('mark').count(), 1);
  assert.ok((await desc.textContent()).includes('<b>safe</b>'), 'escaped text stays text');
  assert.ok((await page.locator(`${sel.results} [part~="result-link"]`).textContent()).includes('<img'), 'names are text');
  await page.unroute('**/v1/search?**');

  // api-key and credentials go to fetch.
  await page.evaluate(() => {
    const widget = document.querySelector('descoberta-search');
    widget.setAttribute('api-key', 'key-e2e-123');
    widget.setAttribute('credentials', 'omit');
  });
  const sent = page.waitForRequest((r) => r.url().includes('/v1/search?'));
  await input.fill('orders');
  await input.press('Enter');
  const request = await sent;
  assert.equal(request.headers()['x-api-key'], 'key-e2e-123');
  await settledStatus(page);

  // A hand-made event stream (CRLF line ends, a comment, split frames): the extractive mode and
  // the warning are shown; an `error` event is said as such.
  const sse = (frames) => frames.map(([event, data]) => `event: ${event}\r\ndata: ${JSON.stringify(data)}\r\n\r\n`).join('');
  await page.route('**/v1/ask/stream', (route) =>
    route.fulfill({
      contentType: 'text/event-stream',
      body:
        ': keep-alive\r\n\r\n' +
        sse([
          ['datasets', { datasets: [{ dataset: 'sales.orders', description: 'd', owner: 'o', location: 'l', columns: [], score: 1, reason: 'r' }], language: 'en', catalog_version: 1 }],
          ['token', { text: 'Orders are ' }],
          ['token', { text: 'in sales.orders.' }],
          ['done', { answer: 'Orders are in sales.orders.', datasets: [{ dataset: 'sales.orders', description: 'd', owner: 'o', location: 'l', columns: [], score: 1, reason: 'one row per order' }], mode: 'extractive', language: 'en', catalog_version: 1, took_ms: 3, warning: 'The language model is unavailable; this answer is extractive.' }],
        ]),
    }),
  );
  await input.fill('where are the orders?');
  await page.locator(sel.askButton).click();
  await page.locator(`${sel.answer}[data-state="done"]`).waitFor();
  assert.equal((await page.locator(`${sel.answer} .answer-text`).textContent()).trim(), 'Orders are in sales.orders.');
  assert.equal(await page.locator(`${sel.answer} .answer-text a[href$="/datasets/sales.orders"]`).count(), 1, 'names in the answer are links');
  assert.equal(await page.locator(`${sel.answer} [data-mode="extractive"]`).count(), 1);
  assert.match(await page.locator(`${sel.answer} .answer-warning`).textContent(), /language model is unavailable/);
  await page.unroute('**/v1/ask/stream');
  await page.route('**/v1/ask/stream', (route) =>
    route.fulfill({ contentType: 'text/event-stream', body: sse([['error', { error: { code: 'unavailable', message: 'index is being rebuilt' } }]]) }),
  );
  await page.locator(sel.askButton).click();
  await page.locator(`${sel.answer}[data-state="error"]`).waitFor();
  assert.match(await page.locator(sel.answer).textContent(), /index is being rebuilt/);
  await page.unroute('**/v1/ask/stream');
  assertNoPageErrors();
  await page.close();
});

test('i. embedded with the two lines on a page of another origin (CORS)', { timeout: 60_000 }, async () => {
  const page = await context.newPage();
  const apiRequests = [];
  page.on('request', (r) => {
    if (r.url().startsWith(`${service.base}/v1/`)) apiRequests.push(r);
  });
  await page.goto(`${portal.origin}/`);
  await page.waitForFunction(() => customElements.get('descoberta-search') !== undefined, null, { timeout: 5_000 });
  const input = page.locator(sel.input);
  await input.fill('churn');
  await input.press('Enter');
  await page.locator(`${sel.results} [data-dataset="${CHURN}"]`).waitFor();
  assert.equal(
    await page.locator(`${sel.results} [data-dataset="${CHURN}"] a[part~="result-link"]`).getAttribute('href'),
    `${service.base}/datasets/${CHURN}`,
  );
  await input.fill('where is customer churn data?');
  await page.locator(sel.askButton).click();
  await page.locator(`${sel.answer}[data-state="done"]`).waitFor({ timeout: 30_000 });
  assert.ok((await page.locator(`${sel.answer} .answer-text`).textContent()).includes(CHURN));
  const search = apiRequests.find((r) => r.url().includes('/v1/search?'));
  assert.equal(search.headers()['x-api-key'], undefined, 'no key configured, none sent');
  assert.equal((await search.response()).headers()['access-control-allow-origin'], portal.origin);
  assertNoPageErrors();
  await page.close();
});

test('g. screenshot of the demo page with results', { timeout: 60_000 }, async () => {
  const page = await context.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${service.base}/?q=${encodeURIComponent('churn de clientes')}`);
  await page.locator(sel.result).first().waitFor();
  await settledStatus(page);
  await page.evaluate(() => document.fonts.ready);
  await page.mouse.move(0, 0);
  await mkdir(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT });
  log(`screenshot saved to ${path.relative(REPO, SCREENSHOT)}`);
  assertNoPageErrors();
  await page.close();
});

test('k. insights page: sign-in, four charts, totals, tables, gaps, and its screenshot', { timeout: 120_000 }, async () => {
  // Traffic of its own (so it also runs alone, as scripts/screenshots does): searches, one with
  // no result, asks, and a vote.
  for (const q of ['churn', 'pedidos faturados', 'xyzzy plugh']) {
    const r = await api(`/v1/search?q=${encodeURIComponent(q)}`);
    assert.equal(r.status, 200, `search ${q}: ${r.text}`);
  }
  for (const question of ['where is customer churn data?', 'onde estão as notas fiscais?']) {
    const r = await api('/v1/ask', { method: 'POST', body: { question } });
    assert.equal(r.status, 200, `ask ${question}: ${r.text}`);
  }
  const vote = await api('/v1/feedback', { method: 'POST', body: { question: 'where is customer churn data?', dataset: CHURN, helpful: true } });
  assert.equal(vote.status, 201, vote.text);
  // The question log may be written just behind the responses: wait until the report counts them.
  let report;
  const deadline = Date.now() + 15_000;
  for (;;) {
    report = await api('/v1/admin/insights?days=30', { headers: ADMIN });
    assert.equal(report.status, 200, report.text);
    if ((report.json.totals.questions >= 5 && report.json.totals.helpful >= 1) || Date.now() > deadline) break;
    await sleep(250);
  }
  assert.ok(report.json.totals.questions >= 5, `questions counted: ${JSON.stringify(report.json.totals)}`);
  assert.ok(report.json.totals.helpful >= 1, 'the vote is counted');
  assert.equal(report.json.per_day.length, 30, 'one entry per day of the range');
  assert.ok([401, 403].includes((await api('/v1/admin/insights?days=30')).status), 'admins only');

  const page = await context.newPage();
  const reads = [];
  page.on('request', (r) => {
    if (r.url().includes('/v1/admin/insights')) reads.push(r.url());
  });
  await page.goto(`${service.base}/admin/insights`);
  assert.equal(await page.evaluate(() => typeof window.uPlot), 'function', 'the vendored uPlot is served at /vendor/');
  // No token: the sign-in form, and not one number.
  await page.locator('#signin').waitFor();
  assert.equal(await page.locator('#content').isHidden(), true);
  assert.equal(await page.locator('[data-total]').count(), 0);
  assert.equal(await page.locator('[data-chart] canvas').count(), 0);
  assert.deepEqual(reads, [], 'nothing is read without a token');
  assert.ok(!(await page.locator('body').textContent()).includes('xyzzy plugh'));

  // A wrong token is refused: the form again, with the error.
  await signIn(page, 'not-the-admin-token');
  await page.locator('#signin-error:not(:empty)').waitFor();
  assert.match(await page.locator('#signin-error').textContent(), /HTTP 40[13]/);
  assert.equal(await page.locator('#signin').isVisible(), true);
  assert.equal(await page.locator('[data-total]').count(), 0);

  await signIn(page);
  for (const chart of ['questions', 'quality', 'votes', 'latency']) {
    await page.locator(`[data-chart="${chart}"] canvas`).first().waitFor();
  }
  assert.equal(await page.locator('[data-chart="questions"]').getAttribute('data-points'), '30');
  const total = page.locator('[data-total="questions"]');
  assert.ok(Number(await total.getAttribute('data-value')) >= report.json.totals.questions, 'the question count');
  assert.match(await total.textContent(), /\d/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('descoberta.admin')), ADMIN_TOKEN);
  const questions = await page.locator('[data-table="top-questions"] tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.question));
  assert.ok(questions.length >= 1, 'top questions');
  const datasets = page.locator('[data-table="top-datasets"] tbody tr[data-dataset]');
  assert.ok((await datasets.count()) >= 1, 'top datasets');
  const first = await datasets.first().getAttribute('data-dataset');
  assert.equal(await datasets.first().locator('a').evaluate((a) => a.href), `${service.base}/datasets/${encodeURIComponent(first)}`);
  // The question with no result is a gap, with its two ways forward.
  const gap = page.locator('[data-gap]').filter({ hasText: 'xyzzy plugh' }).first();
  await gap.waitFor();
  assert.equal(await gap.locator('a[data-link="synonym"]').evaluate((a) => a.href), `${service.base}/admin/review?kind=synonym`);
  assert.equal(await gap.locator('a[data-link="description"]').evaluate((a) => a.href), `${service.base}/admin/review?kind=description`);
  assert.equal(await page.locator('a[data-pending="descriptions"]').evaluate((a) => a.href), `${service.base}/admin/review?kind=description`);
  assert.equal(await page.locator('a[data-pending="synonyms"]').evaluate((a) => a.href), `${service.base}/admin/review?kind=synonym`);

  // Another range.
  await page.locator('[data-range="7"]').click();
  await page.waitForFunction(() => document.querySelector('[data-chart="questions"]')?.dataset.points === '7');
  assert.equal(await page.locator('[data-range="7"]').getAttribute('aria-pressed'), 'true');
  assert.ok(reads.some((u) => u.includes('days=7')));
  await page.locator('[data-range="30"]').click();
  await page.waitForFunction(() => document.querySelector('[data-chart="questions"]')?.dataset.points === '30');
  await page.locator('[data-chart="latency"] canvas').first().waitFor();

  await page.evaluate(() => document.fonts.ready);
  await page.mouse.move(0, 0);
  await mkdir(path.dirname(INSIGHTS_SCREENSHOT), { recursive: true });
  await page.screenshot({ path: INSIGHTS_SCREENSHOT, fullPage: true });
  log(`screenshot saved to ${path.relative(REPO, INSIGHTS_SCREENSHOT)}`);

  // Signing out forgets the token and every number.
  await page.locator('[data-action="signout"]').click();
  await page.locator('#signin').waitFor();
  assert.equal(await page.locator('[data-total]').count(), 0);
  assert.equal(await page.locator('[data-chart] canvas').count(), 0);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('descoberta.admin')), null);
  assertNoPageErrors();
  await page.close();
});

test('l. review queue: LLM-drafted descriptions, one accepted as edited, another rejected', { timeout: 180_000 }, async () => {
  // Admins only.
  assert.ok([401, 403].includes((await api('/v1/admin/proposals?status=pending')).status));
  assert.ok([401, 403].includes((await api('/v1/admin/enrich', { method: 'POST', body: { limit: 1 } })).status));

  const page = await context.newPage();
  await page.goto(`${service.base}/admin/review?kind=description`);
  await signIn(page);
  await page.locator('#status[data-state="loaded"]').waitFor({ state: 'attached', timeout: 15_000 });
  assert.equal(await page.locator('.tabs [data-kind="description"]').getAttribute('aria-pressed'), 'true', '?kind= picks the tab');

  const before = (await fakeLlmPrompts()).length;
  const enrichSent = page.waitForRequest((r) => r.url().endsWith('/v1/admin/enrich') && r.method() === 'POST');
  await page.locator('[data-action="enrich"]').click();
  assert.deepEqual(JSON.parse((await enrichSent).postData()), { limit: 20 });
  await page.locator('#enrich-result[data-state="done"]').waitFor({ timeout: 120_000 });
  const drafted = Number(await page.locator('#enrich-result').getAttribute('data-drafted'));
  assert.ok(drafted >= 2, `drafted: ${await page.locator('#enrich-result').textContent()}`);
  // Each enrichment request carried one catalog entry, and the drafts are the LLM's words.
  const prompts = (await fakeLlmPrompts()).slice(before);
  const entries = prompts.map(enrichmentEntry).filter(Boolean);
  assert.ok(entries.length >= 1, 'the LLM was asked for drafts');

  const pending = page.locator('[data-proposal-id][data-kind="description"][data-status="pending"]');
  await pending.nth(1).waitFor();
  assert.ok((await pending.first().locator('[data-badge="ai-drafted"]').count()) === 1, 'an AI-drafted badge');
  const items = await pending.evaluateAll((nodes) =>
    nodes.map((n) => ({ id: n.dataset.proposalId, dataset: n.dataset.dataset, column: n.dataset.column || null, text: n.querySelector('textarea').value })),
  );
  const target = items.find((x) => x.column);
  assert.ok(target, `a column draft among ${JSON.stringify(items)}`);
  const wording = (language) =>
    draftFor({ language, dataset: { name: target.dataset }, targets: [{ id: `column:${target.column}`, kind: 'column', name: target.column }] }).drafts[0].description;
  assert.ok([wording('en'), wording('pt-BR')].includes(target.text), `the draft is the fake LLM's: ${target.text}`);

  // Accept it, edited.
  const marked = `E2E reviewed ${randomBytes(4).toString('hex')}: ${target.column}, checked by a data steward.`;
  const item = page.locator(`[data-proposal-id="${target.id}"]`);
  await item.locator('textarea').fill(marked);
  const acceptSent = page.waitForRequest((r) => r.url().endsWith(`/v1/admin/proposals/${encodeURIComponent(target.id)}/accept`));
  await item.locator('[data-action="accept"]').click();
  assert.deepEqual(JSON.parse((await acceptSent).postData()), { text: marked }, 'the edited text is sent');
  await page.locator(`[data-proposal-id="${target.id}"][data-status="accepted"]`).waitFor();
  const outcome = await item.locator('[data-outcome]').textContent();
  const version = Number(outcome.match(/(?:versão do catálogo|catalog version) (\d+)/)?.[1]);
  assert.ok(version > 0, `accepted with a catalog version: ${outcome}`);
  const dataset = await api(`/v1/datasets/${encodeURIComponent(target.dataset)}`, { headers: ADMIN });
  assert.equal(dataset.status, 200);
  assert.equal(dataset.json.columns.find((c) => c.name === target.column)?.description, marked, 'the catalog has the edited text');
  const accepted = await api('/v1/admin/proposals?status=accepted&kind=description', { headers: ADMIN });
  const record = accepted.json.proposals.find((p) => p.id === target.id);
  assert.ok(record, 'listed as accepted');
  assert.equal(record.version, version);
  assert.ok(record.reviewed_by && Number.isFinite(record.reviewed_at_ms), 'who reviewed it, when');

  // Reject another: it leaves the pending list and changes nothing in the catalog.
  const other = items.find((x) => x.id !== target.id);
  const otherBefore = await api(`/v1/datasets/${encodeURIComponent(other.dataset)}`, { headers: ADMIN });
  await page.locator(`[data-proposal-id="${other.id}"] [data-action="reject"]`).click();
  await page.locator(`[data-proposal-id="${other.id}"][data-status="rejected"]`).waitFor();
  const stillPending = (await api('/v1/admin/proposals?status=pending', { headers: ADMIN })).json.proposals.map((p) => p.id);
  assert.ok(!stillPending.includes(other.id) && !stillPending.includes(target.id), 'neither is pending');
  const rejected = (await api('/v1/admin/proposals?status=rejected', { headers: ADMIN })).json.proposals.map((p) => p.id);
  assert.ok(rejected.includes(other.id), 'listed as rejected');
  const otherAfter = await api(`/v1/datasets/${encodeURIComponent(other.dataset)}`, { headers: ADMIN });
  const describe = (d) => (other.column ? d.json.columns.find((c) => c.name === other.column)?.description : d.json.description) ?? null;
  assert.equal(describe(otherAfter), describe(otherBefore), 'a rejected draft changes nothing');

  // Reloaded (the token stays for this tab), neither is in the queue any more.
  await page.reload();
  await page.locator('#status[data-state="loaded"]').waitFor({ state: 'attached', timeout: 15_000 });
  assert.equal(await page.locator(`[data-proposal-id="${target.id}"]`).count(), 0);
  assert.equal(await page.locator(`[data-proposal-id="${other.id}"]`).count(), 0);
  // The read-only glossary, as an admin sees it.
  await page.locator('#glossary [data-glossary-term="customer churn"]').waitFor();
  assertNoPageErrors();
  await page.close();
});

test('m. glossary: a Portuguese synonym finds the English dataset; hidden links never leave the service', { timeout: 60_000 }, async () => {
  // "rotatividade" is only in the glossary (a synonym of "customer churn"), not in the dataset.
  const churn = await api(`/v1/datasets/${CHURN}`);
  assert.equal(churn.status, 200);
  const { glossary: churnGlossary, ...own } = churn.json;
  assert.ok(!JSON.stringify(own).toLowerCase().includes('rotatividade'), 'the word is not in the dataset itself');
  assert.ok(Array.isArray(churnGlossary) && churnGlossary.some((g) => g.term === 'customer churn'), 'the dataset names its term');

  const page = await openPage('/');
  const input = page.locator(sel.input);
  const question = 'onde estão os dados de rotatividade?';
  await input.fill(question);
  await input.press('Enter');
  await settledStatus(page);
  const hit = page.locator(`${sel.results} [data-dataset="${CHURN}"]`);
  await hit.waitFor();
  const line = hit.locator('[part~="glossary"] [data-glossary-term="customer churn"]');
  assert.equal(await line.count(), 1, 'the hit says which glossary term it matched');
  assert.equal((await line.textContent()).trim(), 'corresponde ao termo do glossário «customer churn»');
  const search = await api(`/v1/search?q=${encodeURIComponent(question)}`);
  const match = search.json.results.find((r) => r.dataset === CHURN)?.glossary?.find((g) => g.term === 'customer churn');
  assert.ok(match && /rotatividade/i.test(match.matched), `matched through the synonym: ${JSON.stringify(match)}`);
  await page.evaluate(() => document.querySelector('descoberta-search').setAttribute('lang', 'en'));
  assert.equal((await line.textContent()).trim(), 'matches the glossary term «customer churn»');
  await page.evaluate(() => document.querySelector('descoberta-search').setAttribute('lang', 'pt-BR'));

  // "headcount cost" links the restricted HR dataset and a visible one: only the visible one shows.
  await input.fill('custo de pessoal');
  await input.press('Enter');
  await settledStatus(page);
  await page.locator(`${sel.results} [data-dataset="${REVENUE}"] [data-glossary-term="headcount cost"]`).waitFor();
  const html = await shadowHtml(page);
  assert.ok(!html.includes(RESTRICTED) && !html.includes('employee_compensation'), 'not in the results');

  // GET /v1/glossary: anonymous callers get the term without the hidden link; admins get it all.
  const anonymous = await api('/v1/glossary');
  assert.equal(anonymous.status, 200);
  assert.ok(!anonymous.text.includes(RESTRICTED) && !anonymous.text.includes('employee_compensation'), 'not in the glossary');
  const churnTerm = anonymous.json.terms.find((t) => t.name === 'customer churn');
  assert.ok(churnTerm?.synonyms.includes('rotatividade') && churnTerm.synonyms.includes('evasão'), 'English and Portuguese synonyms');
  assert.ok(churnTerm.links.some((l) => l.dataset === CHURN && l.column === null));
  assert.ok(churnTerm.links.some((l) => l.dataset === CHURN && l.column === 'churn_probability'), 'a column link (the dataset name has a dot)');
  const cost = anonymous.json.terms.find((t) => t.name === 'headcount cost');
  assert.ok(cost, 'the term itself is visible');
  assert.deepEqual([...new Set(cost.links.map((l) => l.dataset))], [REVENUE]);
  const asAdmin = await api('/v1/glossary', { headers: ADMIN });
  assert.ok(asAdmin.json.terms.find((t) => t.name === 'headcount cost').links.some((l) => l.dataset === RESTRICTED), 'filtered, not missing');

  // The dataset pages list their terms.
  await page.goto(`${service.base}/datasets/${CHURN}`);
  const entry = page.locator('#glossary-card [data-glossary-term="customer churn"]');
  await entry.waitFor();
  assert.equal(await page.locator('#glossary-card').isVisible(), true);
  assert.match(await page.locator('#glossary-title').textContent(), /Glossário|Glossary/);
  await page.goto(`${service.base}/datasets/${REVENUE}`);
  await page.locator('#glossary-card [data-glossary-term="headcount cost"]').waitFor();
  assert.ok(!(await page.locator('body').textContent()).includes(RESTRICTED));
  assertNoPageErrors();
  await page.close();
});
