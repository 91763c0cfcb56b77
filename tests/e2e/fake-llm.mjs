// An OpenAI-compatible test server standing in for the LLM (plain node:http, no dependencies).
//
// POST /v1/chat/completions speaks the real wire format: a `chat.completion` JSON object, or,
// with "stream": true, `chat.completion.chunk` SSE frames, a final chunk with
// finish_reason "stop", then `data: [DONE]`. The reply content follows descoberta's reply
// contract, {"answer", "datasets": [{"dataset", "columns", "reason"}]}, naming the first dataset
// of the prompt's catalog block (`### dataset: <name>` followed by `- <column> ...` lines).
// Every request body is recorded: GET /prompts returns the message texts received, GET
// /requests the whole bodies, DELETE /prompts forgets them.
//
// As a library: `const llm = await startFakeLlm(); llm.baseUrl; llm.prompts(); await llm.close()`.
// Standalone: `node fake-llm.mjs [--port N]` prints the base URL.

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

/** The reply content (a JSON string following the reply contract) for a prompt. */
export function replyFor(prompt) {
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
  const llm = await startFakeLlm({ port });
  console.log(llm.baseUrl);
  const stop = () => llm.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
