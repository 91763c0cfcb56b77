// End-to-end tests of the browser side: the <descoberta-search> widget on the demo portal page,
// and the dataset page, in headless Chromium (Debian's /usr/bin/chromium driven by
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
import { replyFor } from './fake-llm.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const BIN = path.resolve(REPO, process.env.DESCOBERTA_BIN || 'target/debug/descoberta');
const CHROMIUM = process.env.DESCOBERTA_E2E_CHROMIUM || '/usr/bin/chromium';
const MODEL_DIR = path.join(REPO, 'data', 'models', 'multilingual-e5-small');
// Screenshots go under target/ (ignored); `scripts/screenshots` refreshes the one in docs/.
const SCREENSHOT_DIR = process.env.DESCOBERTA_SCREENSHOT_DIR || path.join(REPO, 'target', 'e2e');
const SCREENSHOT = path.join(SCREENSHOT_DIR, 'widget.png');
const STARTUP_TIMEOUT_MS = Number(process.env.DESCOBERTA_E2E_STARTUP_TIMEOUT_MS || 240_000);
const RESTRICTED = 'hr.employee_compensation';
const CHURN = 'crm.customer_churn_scores';
const ADMIN_TOKEN = randomBytes(16).toString('hex');

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
