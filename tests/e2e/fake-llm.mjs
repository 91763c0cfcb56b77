// An OpenAI-compatible test server standing in for the LLM (plain node:http, no dependencies).
//
// POST /v1/chat/completions speaks the real wire format: a `chat.completion` JSON object, or,
// with "stream": true, `chat.completion.chunk` SSE frames, a final chunk with
// finish_reason "stop", then `data: [DONE]`. The reply content follows descoberta's reply
// contract, {"answer", "datasets": [{"dataset", "columns", "reason"}]}, naming the first dataset
// of the prompt's catalog block (`### dataset: <name>` followed by `- <column> ...` lines).
// An enrichment request (a prompt with one `<catalog-entry>{json}</catalog-entry>` block: the
// dataset, its columns and the targets to describe) gets {"drafts": [{"target", "description",
// "confidence"}]} instead: one deterministic draft per target (see `draftFor`).
// Every request body is recorded: GET /prompts returns the message texts received, GET
// /requests the whole bodies, DELETE /prompts forgets them.
//
// As a library: `const llm = await startFakeLlm(); llm.baseUrl; llm.prompts(); await llm.close()`.
// Standalone: `node fake-llm.mjs [--port N]` prints `listening on http://127.0.0.1:N`, then the
// base URL (`http://127.0.0.1:N/v1`) on a line of its own.

import http from 'node:http';
import { pathToFileURL } from 'node:url';

/** The datasets of a prompt's catalog block, in order, each with its column names. */
export function catalogEntries(prompt) {
  const entries = [];
  for (const line of prompt.split('\n')) {
    const dataset = line.match(/^### dataset: (.+)$/);
    if (dataset) {
      entries.push({ dataset: dataset[1].trim(), columns: [] });
      continue;
    }
    const column = line.match(/^- ([^\s:(]+)/);
    if (column && entries.length && column[1] !== '...') entries.at(-1).columns.push(column[1]);
  }
  return entries;
}

/** The words of an identifier: split on `.`, `_`, `-`, spaces and camelCase, lowercased. */
export function identifierWords(name) {
  return String(name ?? '')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[\s._-]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

function sentence(words) {
  const text = words.join(' ');
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

/**
 * The `<catalog-entry>` block of an enrichment prompt, parsed: the first such block whose body
 * is a JSON object with a dataset (a system message that merely names the tag is skipped), or
 * null when there is none.
 */
export function enrichmentEntry(prompt) {
  const text = String(prompt);
  const open = '<catalog-entry>';
  for (let at = text.indexOf(open); at >= 0; at = text.indexOf(open, at + open.length)) {
    const end = text.indexOf('</catalog-entry>', at + open.length);
    if (end < 0) break;
    try {
      const entry = JSON.parse(text.slice(at + open.length, end).trim());
      if (entry && typeof entry === 'object' && entry.dataset && typeof entry.dataset.name === 'string') return entry;
    } catch {
      // not the data block
    }
  }
  return null;
}

/**
 * The drafts for one catalog entry, deterministic: for each target, its name's words and the
 * dataset's last name segment. Column `customer_id` of `crm.customers` gets "Customer id of
 * the customers." ("Customer id de customers." when the entry's language is pt-BR); the dataset
 * `crm.customer_churn_scores` itself gets "Customer churn scores of the crm domain." ("Customer
 * churn scores do domínio crm."). Confidence 0.6 for each.
 */
export function draftFor(entry) {
  const pt = /^pt/i.test(String(entry?.language ?? ''));
  const datasetName = String(entry?.dataset?.name ?? '');
  const segments = datasetName.split('.').filter(Boolean);
  const last = identifierWords(segments.at(-1) ?? datasetName).join(' ');
  const domain = segments.length > 1 ? segments.slice(0, -1).join('.') : '';
  const targets = Array.isArray(entry?.targets) ? entry.targets : [];
  const drafts = [];
  for (const target of targets) {
    if (!target || typeof target.id !== 'string') continue;
    let description;
    if (target.kind === 'dataset') {
      const words = sentence(identifierWords(segments.at(-1) ?? target.name ?? datasetName));
      if (pt) description = domain ? `${words} do domínio ${domain}.` : `${words}.`;
      else description = domain ? `${words} of the ${domain} domain.` : `${words}.`;
    } else {
      const words = sentence(identifierWords(target.name ?? target.id.replace(/^column:/, '')));
      description = pt ? `${words} de ${last}.` : `${words} of the ${last}.`;
    }
    drafts.push({ target: target.id, description, confidence: 0.6 });
  }
  return { drafts };
}

/** The reply content (a JSON string following the reply contract) for a prompt. */
export function replyFor(prompt) {
  const entry = enrichmentEntry(prompt);
  if (entry) return JSON.stringify(draftFor(entry));
  const [first] = catalogEntries(prompt);
  if (!first) {
    return JSON.stringify({ answer: 'No catalog entry answers this question.', datasets: [] });
  }
  const columns = first.columns.slice(0, 2);
  const answer = columns.length
    ? `The data you are looking for is in ${first.dataset}, mainly in the columns ${columns.join(' and ')}.`
    : `The data you are looking for is in ${first.dataset}.`;
  return JSON.stringify({
    answer,
    datasets: [{ dataset: first.dataset, columns, reason: 'it is the first catalog entry that matches the question' }],
  });
}

function promptText(body) {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  return messages
    .map((m) => (typeof m?.content === 'string' ? m.content : Array.isArray(m?.content) ? m.content.map((p) => p?.text ?? '').join('') : ''))
    .join('\n');
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Starts the server on 127.0.0.1 (port 0: a free port).
 * Options: chunkChars (characters per streamed chunk), chunkDelayMs (pause between chunks).
 */
export async function startFakeLlm({ port = 0, chunkChars = 6, chunkDelayMs = 8 } = {}) {
  const requests = [];
  let counter = 0;

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const json = (status, value) => {
      const body = JSON.stringify(value);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    const error = (status, message, type) => json(status, { error: { message, type, param: null, code: null } });

    if (req.method === 'GET' && url.pathname === '/prompts') {
      return json(200, requests.map(promptText));
    }
    if (req.method === 'GET' && url.pathname === '/requests') {
      return json(200, requests);
    }
    if (req.method === 'DELETE' && url.pathname === '/prompts') {
      requests.length = 0;
      return json(200, { ok: true });
    }
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      return json(200, { object: 'list', data: [{ id: 'fake-aurora', object: 'model', created: 1700000000, owned_by: 'tests' }] });
    }
    if (url.pathname !== '/v1/chat/completions') {
      return error(404, `Unknown path ${url.pathname}`, 'invalid_request_error');
    }
    if (req.method !== 'POST') {
      return error(405, `Method ${req.method} not allowed`, 'invalid_request_error');
    }

    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return error(400, 'Invalid JSON body', 'invalid_request_error');
    }
    requests.push(body);
    if (!Array.isArray(body.messages) || !body.messages.length) {
      return error(400, "'messages' is required", 'invalid_request_error');
    }

    const id = `chatcmpl-fake-${++counter}`;
    const created = Math.floor(Date.now() / 1000);
    const model = typeof body.model === 'string' ? body.model : 'fake-aurora';
    const content = replyFor(promptText(body));
    const usage = {
      prompt_tokens: Math.ceil(promptText(body).length / 4),
      completion_tokens: Math.ceil(content.length / 4),
      total_tokens: Math.ceil(promptText(body).length / 4) + Math.ceil(content.length / 4),
    };

    if (body.stream !== true) {
      return json(200, {
        id,
        object: 'chat.completion',
        created,
        model,
        system_fingerprint: null,
        choices: [{ index: 0, message: { role: 'assistant', content }, logprobs: null, finish_reason: 'stop' }],
        usage,
      });
    }

    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    const frame = (delta, finishReason) =>
      `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        system_fingerprint: null,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      })}\n\n`;
    let closed = false;
    res.on('close', () => {
      closed = true;
    });
    res.write(frame({ role: 'assistant', content: '' }, null));
    const characters = [...content];
    for (let i = 0; i < characters.length && !closed; i += chunkChars) {
      await sleep(chunkDelayMs);
      res.write(frame({ content: characters.slice(i, i + chunkChars).join('') }, null));
    }
    if (closed) return undefined;
    res.write(frame({}, 'stop'));
    res.write('data: [DONE]\n\n');
    res.end();
    return undefined;
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const address = server.address();
  const origin = `http://127.0.0.1:${address.port}`;
  return {
    origin,
    baseUrl: `${origin}/v1`,
    requests: () => requests.slice(),
    prompts: () => requests.map(promptText),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const index = process.argv.indexOf('--port');
  const port = index > 0 ? Number(process.argv[index + 1]) : 0;
  const llm = await startFakeLlm({ port: Number.isFinite(port) ? port : 0 });
  console.log(`listening on ${llm.origin}`);
  console.log(llm.baseUrl);
  const stop = () => llm.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
