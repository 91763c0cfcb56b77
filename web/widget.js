// <descoberta-search>: the embeddable search box of the descoberta data catalog.
//
// Two lines on any page:
//   <script type="module" src="https://catalog.internal/widget.js"></script>
//   <descoberta-search api="https://catalog.internal"></descoberta-search>
//
// A plain web component (ES module, no dependencies, no build step) in an open shadow root.
// Attributes: api (default: the origin this script was loaded from), placeholder, lang (pt-BR | en;
// default: the page's language), limit (results per page, 1-100), suggest-limit, api-key (sent as
// X-Api-Key), credentials (omit | same-origin | include, passed to fetch), query (a search run on
// connect, and again whenever it changes), label (the box's accessible label).
// Styling: CSS custom properties --descoberta-accent, --descoberta-accent-fg, --descoberta-bg,
// --descoberta-fg, --descoberta-muted, --descoberta-surface, --descoberta-border,
// --descoberta-radius, --descoberta-font, --descoberta-mono-font, --descoberta-mark,
// --descoberta-focus, --descoberta-list-max-height; and ::part(form|input|search-button|ask-button|
// listbox|option|status|answer|results|result|result-link|glossary|more-button).
// Methods: el.search(query?), el.ask(question?), el.clear(). Events (bubbling, composed):
// descoberta-search {query, total}, descoberta-answer {question, answer, mode, datasets}.

const SCRIPT_ORIGIN = (() => {
  try {
    return new URL(import.meta.url).origin;
  } catch {
    return location.origin;
  }
})();

const DEBOUNCE_MS = 150;
const COLUMNS_SHOWN = 4;
const TAGS_SHOWN = 6;
const SENSITIVITIES = ['public', 'internal', 'confidential', 'restricted'];

const MESSAGES = {
  en: {
    label: 'Search the data catalog',
    related: 'Related',
    placeholder: 'Search datasets and columns, or ask a question…',
    search: 'Search',
    ask: 'Ask',
    clear: 'Clear the search',
    suggestions: 'Suggestions',
    kind: { dataset: 'dataset', column: 'column' },
    suggestionsAvailable: (n) =>
      n === 1
        ? '1 suggestion. Use the up and down arrow keys to review it.'
        : `${n} suggestions. Use the up and down arrow keys to review them.`,
    emptyQuery: 'Type what you are looking for first.',
    searching: 'Searching…',
    count: (n, q) => (n === 1 ? `1 dataset matches “${q}”` : `${n.toLocaleString('en')} datasets match “${q}”`),
    shown: (shown, total) => `showing ${shown.toLocaleString('en')} of ${total.toLocaleString('en')}`,
    none: (q) => `No dataset matches “${q}”.`,
    noneHint: 'Try other words or a column name, or ask a question with “Ask”.',
    more: 'Show more results',
    results: 'Search results',
    owner: 'Owner',
    domain: 'Domain',
    location: 'Location',
    tags: 'Tags',
    sensitivity: 'Sensitivity',
    levels: { public: 'Public', internal: 'Internal', confidential: 'Confidential', restricted: 'Restricted' },
    noDescription: 'No description.',
    matchingColumns: 'Matching columns',
    moreColumns: (n) => `+ ${n} more`,
    glossaryMatch: (term) => `matches the glossary term «${term}»`,
    glossaryVia: (word) => `found through “${word}”`,
    answer: 'Answer',
    asking: 'Looking for the answer…',
    consulting: (n) => (n === 1 ? 'Reading 1 catalog entry…' : `Reading ${n} catalog entries…`),
    answerReady: 'Answer ready.',
    modeLlm: 'AI-written answer, from catalog entries only',
    modeExtractive: 'Extractive answer, composed from the catalog (no AI model)',
    named: 'Datasets in this answer',
    noneNamed: 'The answer names no dataset.',
    tookMs: (ms) => `${ms} ms`,
    errNetwork: 'The catalog service could not be reached. Check your connection and try again.',
    errUnavailable: (s) => `The catalog service is unavailable (HTTP ${s}). Try again in a moment.`,
    errAuth: (s) => `You are not allowed to use the catalog service (HTTP ${s}). Check your API key or sign in again.`,
    errRate: 'Too many requests to the catalog service (HTTP 429). Wait a moment and try again.',
    errRequest: (s, m) => `The catalog service refused the request (HTTP ${s})${m ? `: ${m}` : '.'}`,
    errAnswer: (m) => `The answer could not be composed${m ? `: ${m}` : '.'}`,
    errInterrupted: 'The answer was interrupted before it finished. Try again.',
  },
  'pt-BR': {
    label: 'Pesquisar no catálogo de dados',
    related: 'Relacionado',
    placeholder: 'Pesquise conjuntos de dados e colunas, ou faça uma pergunta…',
    search: 'Pesquisar',
    ask: 'Perguntar',
    clear: 'Limpar a pesquisa',
    suggestions: 'Sugestões',
    kind: { dataset: 'conjunto', column: 'coluna' },
    suggestionsAvailable: (n) =>
      n === 1
        ? '1 sugestão. Use as setas para cima e para baixo para vê-la.'
        : `${n} sugestões. Use as setas para cima e para baixo para vê-las.`,
    emptyQuery: 'Digite primeiro o que você procura.',
    searching: 'Pesquisando…',
    count: (n, q) =>
      n === 1
        ? `1 conjunto de dados corresponde a “${q}”`
        : `${n.toLocaleString('pt-BR')} conjuntos de dados correspondem a “${q}”`,
    shown: (shown, total) => `mostrando ${shown.toLocaleString('pt-BR')} de ${total.toLocaleString('pt-BR')}`,
    none: (q) => `Nenhum conjunto de dados corresponde a “${q}”.`,
    noneHint: 'Tente outras palavras ou o nome de uma coluna, ou faça uma pergunta com “Perguntar”.',
    more: 'Mostrar mais resultados',
    results: 'Resultados da pesquisa',
    owner: 'Responsável',
    domain: 'Domínio',
    location: 'Local',
    tags: 'Etiquetas',
    sensitivity: 'Sensibilidade',
    levels: { public: 'Público', internal: 'Interno', confidential: 'Confidencial', restricted: 'Restrito' },
    noDescription: 'Sem descrição.',
    matchingColumns: 'Colunas correspondentes',
    moreColumns: (n) => `+ ${n} outras`,
    glossaryMatch: (term) => `corresponde ao termo do glossário «${term}»`,
    glossaryVia: (word) => `encontrado por “${word}”`,
    answer: 'Resposta',
    asking: 'Procurando a resposta…',
    consulting: (n) => (n === 1 ? 'Lendo 1 entrada do catálogo…' : `Lendo ${n} entradas do catálogo…`),
    answerReady: 'Resposta pronta.',
    modeLlm: 'Resposta escrita por IA, só a partir das entradas do catálogo',
    modeExtractive: 'Resposta extrativa, montada a partir do catálogo (sem modelo de IA)',
    named: 'Conjuntos de dados nesta resposta',
    noneNamed: 'A resposta não cita nenhum conjunto de dados.',
    tookMs: (ms) => `${ms} ms`,
    errNetwork: 'Não foi possível contatar o serviço de catálogo. Verifique sua conexão e tente de novo.',
    errUnavailable: (s) => `O serviço de catálogo está indisponível (HTTP ${s}). Tente de novo em instantes.`,
    errAuth: (s) =>
      `Você não tem permissão para usar o serviço de catálogo (HTTP ${s}). Verifique sua chave de API ou entre de novo.`,
    errRate: 'Muitas requisições ao serviço de catálogo (HTTP 429). Aguarde um momento e tente de novo.',
    errRequest: (s, m) => `O serviço de catálogo recusou a requisição (HTTP ${s})${m ? `: ${m}` : '.'}`,
    errAnswer: (m) => `Não foi possível compor a resposta${m ? `: ${m}` : '.'}`,
    errInterrupted: 'A resposta foi interrompida antes do fim. Tente de novo.',
  },
};

const STYLE = `
:host {
  all: initial;
  display: block;
  container-type: inline-size;
  --_accent: var(--descoberta-accent, #2457d6);
  --_accent-fg: var(--descoberta-accent-fg, #ffffff);
  --_bg: var(--descoberta-bg, #ffffff);
  --_fg: var(--descoberta-fg, #1c2533);
  --_muted: var(--descoberta-muted, #5a6475);
  --_surface: var(--descoberta-surface, #f5f7fa);
  --_border: var(--descoberta-border, #d3d9e2);
  --_radius: var(--descoberta-radius, 10px);
  --_font: var(--descoberta-font, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif);
  --_mono: var(--descoberta-mono-font, ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace);
  --_mark: var(--descoberta-mark, #ffe27a);
  --_focus: var(--descoberta-focus, var(--_accent));
  --_list-max-height: var(--descoberta-list-max-height, 22rem);
  font-family: var(--_font);
  font-size: 15px;
  line-height: 1.5;
  color: var(--_fg);
  text-align: start;
}
:host([hidden]) { display: none; }
*, *::before, *::after { box-sizing: border-box; }
.vh {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; border: 0;
}
[hidden] { display: none !important; }
:focus { outline: none; }
:focus-visible { outline: 3px solid var(--_focus); outline-offset: 2px; }
a { color: var(--_accent); text-decoration: none; border-radius: 3px; }
a:hover { text-decoration: underline; }
mark { background: var(--_mark); color: inherit; border-radius: 2px; padding: 0 1px; }
code { font-family: var(--_mono); font-size: 0.92em; }

form { display: flex; gap: 8px; align-items: stretch; margin: 0; }
.field { position: relative; flex: 1 1 auto; min-width: 0; }
.field .icon {
  position: absolute; left: 14px; top: 50%; width: 18px; height: 18px; margin-top: -9px;
  color: var(--_muted); pointer-events: none;
}
input {
  font: inherit; color: var(--_fg); background: var(--_bg);
  width: 100%; height: 48px; margin: 0; padding: 0 42px 0 42px;
  border: 1px solid var(--_border); border-radius: var(--_radius);
  box-shadow: 0 1px 2px rgb(16 24 40 / 0.06);
  appearance: none;
}
input::placeholder { color: var(--_muted); opacity: 1; }
input:focus-visible { outline: 3px solid var(--_focus); outline-offset: 1px; border-color: var(--_focus); }
.clear {
  position: absolute; right: 8px; top: 50%; transform: translateY(-50%);
  width: 32px; height: 32px; border: 0; border-radius: 50%; background: transparent; color: var(--_muted);
  font: inherit; font-size: 20px; line-height: 1; cursor: pointer; display: grid; place-items: center;
}
.clear:hover { background: var(--_surface); color: var(--_fg); }
button.btn {
  font: inherit; font-weight: 600; height: 48px; padding: 0 20px; margin: 0; cursor: pointer;
  border-radius: var(--_radius); border: 1px solid var(--_accent); white-space: nowrap;
  display: inline-flex; align-items: center; gap: 8px;
}
button.btn svg { width: 16px; height: 16px; flex: none; }
button.primary { background: var(--_accent); color: var(--_accent-fg); }
button.primary:hover { filter: brightness(1.08); }
button.secondary { background: var(--_bg); color: var(--_accent); }
button.secondary:hover { background: color-mix(in srgb, var(--_accent) 8%, var(--_bg)); }
button.btn:focus-visible { outline-offset: 2px; }

[role="listbox"] {
  position: absolute; z-index: 20; left: 0; right: 0; top: calc(100% + 6px);
  margin: 0; padding: 6px; list-style: none; background: var(--_bg); color: var(--_fg);
  border: 1px solid var(--_border); border-radius: var(--_radius);
  box-shadow: 0 12px 32px rgb(16 24 40 / 0.16), 0 2px 6px rgb(16 24 40 / 0.08);
  max-height: var(--_list-max-height); overflow-y: auto;
}
[role="option"] {
  display: grid; grid-template-columns: 6.5em 1fr; gap: 0 10px; align-items: baseline;
  padding: 7px 10px; border-radius: calc(var(--_radius) - 4px); cursor: pointer;
  border-left: 3px solid transparent;
}
[role="option"][aria-selected="true"] {
  background: color-mix(in srgb, var(--_accent) 12%, var(--_bg));
  border-left-color: var(--_accent);
}
[role="option"]:hover:not([aria-selected="true"]) { background: var(--_surface); }
.kind {
  justify-self: start; font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: 0.04em;
  color: var(--_muted); border: 1px solid var(--_border); border-radius: 999px; padding: 0 7px;
  text-align: center; background: var(--_bg);
}
.opt-text { font-family: var(--_mono); font-size: 14px; overflow-wrap: anywhere; }
.opt-text .ds { color: var(--_muted); }
.opt-desc {
  grid-column: 2; font-size: 13px; color: var(--_muted);
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
}

.status {
  margin: 14px 2px 0; min-height: 1.5em; color: var(--_muted); font-size: 14px;
  display: flex; gap: 8px; align-items: center; flex-wrap: wrap;
}
.status:empty, .status[data-quiet] { margin-top: 0; min-height: 0; }
.status strong { color: var(--_fg); font-weight: 600; }
.status[data-state="error"]:not([data-quiet]) {
  color: #8f1d1d; background: #fdecec; border: 1px solid #f4c7c7;
  border-radius: var(--_radius); padding: 10px 12px;
}
.status .hint { flex-basis: 100%; }
.status .took { font-size: 12px; }
.spinner {
  width: 14px; height: 14px; border-radius: 50%; flex: none;
  border: 2px solid color-mix(in srgb, var(--_accent) 25%, transparent); border-top-color: var(--_accent);
  animation: spin 0.8s linear infinite;
}
@keyframes spin { to { transform: rotate(360deg); } }

.answer {
  margin-top: 14px; padding: 14px 16px; background: var(--_surface);
  border: 1px solid var(--_border); border-left: 4px solid var(--_accent); border-radius: var(--_radius);
}
.answer h2 {
  margin: 0 0 6px; font-size: 12px; font-weight: 700; letter-spacing: 0.06em; text-transform: uppercase;
  color: var(--_accent);
}
.answer-text { margin: 0; font-size: 16px; white-space: pre-wrap; overflow-wrap: anywhere; }
.answer[data-state="streaming"] .answer-text::after {
  content: ""; display: inline-block; width: 0.5em; height: 1em; margin-left: 2px; vertical-align: -0.15em;
  background: var(--_accent); animation: blink 1s steps(2, start) infinite;
}
@keyframes blink { to { visibility: hidden; } }
.answer-text a { font-family: var(--_mono); font-size: 0.94em; }
.answer-meta { margin: 8px 0 0; font-size: 12.5px; color: var(--_muted); display: flex; gap: 8px; align-items: center; }
.answer-warning {
  margin: 8px 0 0; font-size: 13px; color: #7a4a00; background: #fff4dc;
  border: 1px solid #f1d9a6; border-radius: 6px; padding: 6px 10px;
}
.answer-error { margin: 0; color: #8f1d1d; }
.answer[data-state="error"] { border-left-color: #c43c3c; background: #fdf1f1; }
.answer[data-state="error"] h2 { color: #8f1d1d; }
.answer h3 { margin: 12px 0 4px; font-size: 13px; font-weight: 600; color: var(--_muted); }
.answer-datasets { margin: 0; padding: 0; list-style: none; display: grid; gap: 4px; }
.answer-datasets li { font-size: 14px; }
.answer-datasets a { font-family: var(--_mono); font-weight: 600; }
.answer-datasets .reason { color: var(--_muted); }

.results { list-style: none; margin: 12px 0 0; padding: 0; display: grid; gap: 10px; }
.results:empty { display: none; }
.result {
  background: var(--_bg); border: 1px solid var(--_border); border-radius: var(--_radius);
  padding: 12px 16px 14px;
}
.result:hover { border-color: color-mix(in srgb, var(--_accent) 40%, var(--_border)); }
.result-head { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
.result h3 { margin: 0; font-size: 16px; font-weight: 600; font-family: var(--_mono); overflow-wrap: anywhere; }
.badge {
  font-size: 11.5px; font-weight: 600; border-radius: 999px; padding: 1px 9px; line-height: 1.6;
  border: 1px solid transparent; white-space: nowrap;
}
.badge.public { background: #e4f5e9; color: #17602f; border-color: #bfe5cb; }
.badge.internal { background: #e7eefc; color: #23479a; border-color: #c5d5f6; }
.badge.confidential { background: #fff1d6; color: #7f4d00; border-color: #f3d49a; }
.badge.restricted { background: #fde6e6; color: #9b1c1c; border-color: #f4c2c2; }
.badge.unknown { background: var(--_surface); color: var(--_muted); border-color: var(--_border); }
.desc { margin: 6px 0 0; }
.desc.none { color: var(--_muted); font-style: italic; }
.meta { margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 2px 18px; font-size: 13px; color: var(--_muted); }
.meta div { display: flex; gap: 5px; min-width: 0; }
.meta dt { font-weight: 600; }
.meta dd { margin: 0; color: var(--_fg); overflow-wrap: anywhere; }
.tags { margin: 8px 0 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: 4px; }
.tags li {
  font-size: 12px; padding: 0 8px; border-radius: 999px; background: var(--_surface);
  border: 1px solid var(--_border); color: var(--_muted);
}
.cols-title { margin: 10px 0 4px; font-size: 12px; font-weight: 600; color: var(--_muted); }
.cols { margin: 0; padding: 0; list-style: none; display: grid; gap: 3px; font-size: 13.5px; }
.cols li { display: flex; gap: 8px; align-items: baseline; min-width: 0; }
.cols .col-name { font-weight: 600; flex: none; }
.cols .col-type { font-family: var(--_mono); font-size: 12px; color: var(--_muted); flex: none; }
.cols .col-desc { color: var(--_muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }
.cols .col-more { color: var(--_muted); font-size: 12.5px; }
.glossary { margin: 8px 0 0; padding: 0; list-style: none; display: grid; gap: 2px; font-size: 13px; color: var(--_muted); }
.glossary li { display: flex; gap: 6px; align-items: baseline; }
.glossary li::before { content: "≡"; color: var(--_accent); font-weight: 700; flex: none; }
.glossary .term { color: var(--_fg); font-weight: 600; }
.answer-datasets .glossary { display: inline; margin: 0; font-size: 12.5px; }
.answer-datasets .glossary li { display: inline; }
.answer-datasets .glossary li::before { content: " · "; color: var(--_muted); font-weight: 400; }
.more { text-align: center; }
.more button { margin-top: 12px; }

@container (max-width: 560px) {
  form { flex-wrap: wrap; }
  .field { flex-basis: 100%; }
  button.btn { flex: 1 1 0; justify-content: center; }
  .cols li { flex-wrap: wrap; }
  .cols .col-desc { white-space: normal; }
}
@media (prefers-reduced-motion: reduce) {
  .spinner, .answer[data-state="streaming"] .answer-text::after { animation: none; }
}
@media (forced-colors: active) {
  [role="option"][aria-selected="true"] { outline: 2px solid Highlight; }
  mark { background: Mark; color: MarkText; }
}
`;

const ICON_SEARCH =
  '<svg viewBox="0 0 20 20" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><circle cx="8.5" cy="8.5" r="5.5"/><path d="m13 13 4.5 4.5" stroke-linecap="round"/></svg>';
const ICON_ASK =
  '<svg viewBox="0 0 20 20" fill="none" stroke="currentColor" stroke-width="1.8" aria-hidden="true"><path d="M10 2.5l1.6 4.3 4.4 1.7-4.4 1.7L10 14.5l-1.6-4.3L4 8.5l4.4-1.7z" stroke-linejoin="round"/><path d="M15.5 13.5l.7 1.8 1.8.7-1.8.7-.7 1.8-.7-1.8-1.8-.7 1.8-.7z" stroke-linejoin="round"/></svg>';

const TEMPLATE = `
<style>${STYLE}</style>
<form part="form" role="search" novalidate>
  <label class="vh" id="label" for="input"></label>
  <div class="field">
    <span class="icon">${ICON_SEARCH}</span>
    <input id="input" part="input" type="text" role="combobox" aria-autocomplete="list"
      aria-haspopup="listbox" aria-expanded="false" aria-controls="listbox" autocomplete="off"
      autocapitalize="off" spellcheck="false" enterkeyhint="search">
    <button type="button" class="clear" id="clear" hidden><span aria-hidden="true">×</span></button>
    <ul id="listbox" role="listbox" part="listbox" hidden></ul>
  </div>
  <button type="submit" class="btn primary" id="search-button" part="search-button"></button>
  <button type="button" class="btn secondary" id="ask-button" part="ask-button">${ICON_ASK}<span></span></button>
</form>
<div class="vh" id="suggestions-live" aria-live="polite"></div>
<div class="status" id="status" part="status" role="status" aria-live="polite"></div>
<section class="answer" id="answer" part="answer" aria-labelledby="answer-title" hidden>
  <h2 id="answer-title"></h2>
  <div class="answer-body" id="answer-body"></div>
</section>
<ol class="results" id="results" part="results"></ol>
<div class="more"><button type="button" class="btn secondary" id="more-button" part="more-button" hidden></button></div>
`;

/** An HTTP or network failure, with the status (0 when the service could not be reached). */
class RequestError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
  }
}

async function requestErrorFrom(response) {
  let code = '';
  let message = '';
  try {
    const body = await response.json();
    code = body?.error?.code ?? '';
    message = body?.error?.message ?? '';
  } catch {
    // not JSON: a proxy's error page; the status says enough
  }
  return new RequestError(response.status, code, message);
}

/** Reads a text/event-stream body: yields {event, data} for each complete frame. */
async function* readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // Normalize line ends; a trailing \r may be the first half of a \r\n split across chunks.
      const keep = !done && buffer.endsWith('\r');
      if (keep) buffer = buffer.slice(0, -1);
      buffer = buffer.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = parseFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (frame) yield frame;
      }
      if (keep) buffer += '\r';
      if (done) {
        const frame = parseFrame(buffer);
        if (frame) yield frame;
        return;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function parseFrame(text) {
  let event = 'message';
  const data = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length ? { event, data: data.join('\n') } : null;
}

/**
 * Puts a highlight snippet into `target`. Snippets are HTML-escaped text in which only <mark>
 * and </mark> are markup; as a second line of defence they are parsed inertly (a <template>
 * runs no scripts and loads nothing) and only text and <mark> elements are kept.
 */
function setSnippet(target, snippet) {
  const template = document.createElement('template');
  template.innerHTML = snippet;
  const clean = (node) => {
    const out = document.createDocumentFragment();
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) {
        out.append(child.textContent);
      } else if (child.nodeType === Node.ELEMENT_NODE && child.localName === 'mark') {
        const mark = document.createElement('mark');
        mark.append(clean(child));
        out.append(mark);
      } else if (child.nodeType === Node.ELEMENT_NODE) {
        out.append(child.textContent);
      }
    }
    return out;
  };
  target.replaceChildren(clean(template.content));
}

function snippetText(snippet) {
  const template = document.createElement('template');
  template.innerHTML = snippet;
  return template.content.textContent;
}

function highlight(highlights, field) {
  return (highlights || []).find((h) => h && h.field === field && typeof h.snippet === 'string')?.snippet;
}

/** Creates an element with attributes and children (strings become text nodes). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child);
  }
  return element;
}

function normalizeLang(value) {
  return /^pt\b/i.test(value || '') ? 'pt-BR' : 'en';
}

let instances = 0;

class DescobertaSearch extends HTMLElement {
  static observedAttributes = ['api', 'placeholder', 'lang', 'limit', 'query', 'label', 'credentials'];

  constructor() {
    super();
    this._id = ++instances;
    this._suggestions = [];
    this._active = -1;
    this._suggestSeq = 0;
    this._searchSeq = 0;
    this._askSeq = 0;
    this._timer = 0;
    this._searchState = null; // {query, total, results, took_ms}
    this._answerState = null; // {question, state, text, done, error, retrieved}
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = TEMPLATE;
    const $ = (id) => root.getElementById(id);
    this._form = root.querySelector('form');
    this._label = $('label');
    this._input = $('input');
    this._clearButton = $('clear');
    this._listbox = $('listbox');
    this._searchButton = $('search-button');
    this._askButton = $('ask-button');
    this._suggestionsLive = $('suggestions-live');
    this._status = $('status');
    this._answer = $('answer');
    this._answerTitle = $('answer-title');
    this._answerBody = $('answer-body');
    this._results = $('results');
    this._moreButton = $('more-button');

    this._input.addEventListener('input', () => this._onInput());
    this._input.addEventListener('keydown', (e) => this._onKeyDown(e));
    this._input.addEventListener('focus', () => this._onFocus());
    this._input.addEventListener('blur', () => this._closeList());
    this._form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.search();
    });
    this._askButton.addEventListener('click', () => this.ask());
    this._clearButton.addEventListener('click', () => {
      this.clear();
      this._input.focus();
    });
    this._moreButton.addEventListener('click', () => this._search(this._searchState?.query, true));
    // Keep the focus in the input while an option is clicked.
    this._listbox.addEventListener('pointerdown', (e) => e.preventDefault());
    this._listbox.addEventListener('click', (e) => {
      const option = e.target.closest('[role="option"]');
      if (option) this._pick(Number(option.dataset.index));
    });
    this._listbox.addEventListener('pointermove', (e) => {
      const option = e.target.closest('[role="option"]');
      if (option && Number(option.dataset.index) !== this._active) this._setActive(Number(option.dataset.index));
    });
    this._applyLabels();
  }

  connectedCallback() {
    this._connected = true;
    this._applyLabels();
    const query = this.getAttribute('query');
    if (query && query.trim() && query.trim() !== this._searchState?.query) {
      this._input.value = query;
      this._syncClear();
      this._search(query);
    }
  }

  disconnectedCallback() {
    this._connected = false;
    clearTimeout(this._timer);
    this._suggestAbort?.abort();
    this._searchAbort?.abort();
    this._askAbort?.abort();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue === newValue) return;
    if (name === 'lang' || name === 'placeholder' || name === 'label') {
      this._applyLabels();
      this._renderSuggestions();
      if (this._searchState) this._renderResults();
      if (this._answerState) this._renderAnswer();
      return;
    }
    if (name === 'query' && this._connected && newValue && newValue.trim()) {
      this._input.value = newValue;
      this._syncClear();
      this._search(newValue);
    }
  }

  // ---- settings read from attributes ----

  get apiBase() {
    const value = (this.getAttribute('api') || '').trim();
    const url = new URL(value || SCRIPT_ORIGIN, document.baseURI);
    return url.href.replace(/\/+$/, '');
  }

  get language() {
    const own = this.getAttribute('lang');
    if (own) return normalizeLang(own);
    const inherited = this.closest('[lang]')?.getAttribute('lang') || document.documentElement.lang;
    return normalizeLang(inherited || navigator.language);
  }

  get limit() {
    const n = Number.parseInt(this.getAttribute('limit') ?? '', 10);
    return Number.isFinite(n) ? Math.min(Math.max(n, 1), 100) : 10;
  }

  get suggestLimit() {
    const n = Number.parseInt(this.getAttribute('suggest-limit') ?? '', 10);
    return Number.isFinite(n) ? Math.min(Math.max(n, 1), 20) : 8;
  }

  get _t() {
    return MESSAGES[this.language];
  }

  datasetUrl(name) {
    return `${this.apiBase}/datasets/${encodeURIComponent(name)}`;
  }

  // ---- public methods ----

  focus(options) {
    this._input.focus(options);
  }

  /** Runs a search for `query` (default: the input's text). */
  search(query) {
    if (typeof query === 'string') {
      this._input.value = query;
      this._syncClear();
    }
    return this._search(this._input.value);
  }

  /** Asks a question (default: the input's text) and streams the answer. */
  ask(question) {
    if (typeof question === 'string') {
      this._input.value = question;
      this._syncClear();
    }
    return this._ask(this._input.value);
  }

  /** Clears the input, the suggestions, the results and the answer. */
  clear() {
    this._cancelSuggestions();
    this._searchAbort?.abort();
    this._askAbort?.abort();
    this._searchSeq++;
    this._askSeq++;
    this._input.value = '';
    this._syncClear();
    this._searchState = null;
    this._answerState = null;
    this._results.replaceChildren();
    this._moreButton.hidden = true;
    this._answer.hidden = true;
    this._setStatus();
  }

  // ---- labels ----

  _applyLabels() {
    const t = this._t;
    const lang = this.language;
    for (const node of this.shadowRoot.querySelectorAll('form, .status, .answer, .results, .more, #suggestions-live')) {
      node.setAttribute('lang', lang);
    }
    this._label.textContent = this.getAttribute('label') || t.label;
    this._input.placeholder = this.getAttribute('placeholder') || t.placeholder;
    this._listbox.setAttribute('aria-label', t.suggestions);
    this._clearButton.setAttribute('aria-label', t.clear);
    this._clearButton.title = t.clear;
    this._searchButton.textContent = t.search;
    this._askButton.querySelector('span').textContent = t.ask;
    this._answerTitle.textContent = t.answer;
    this._results.setAttribute('aria-label', t.results);
    this._moreButton.textContent = t.more;
  }

  _syncClear() {
    this._clearButton.hidden = !this._input.value;
  }

  // ---- requests ----

  _headers(extra = {}) {
    const headers = { Accept: 'application/json', ...extra };
    const key = this.getAttribute('api-key');
    if (key) headers['X-Api-Key'] = key;
    return headers;
  }

  _credentials() {
    const value = this.getAttribute('credentials');
    return ['omit', 'same-origin', 'include'].includes(value) ? value : 'same-origin';
  }

  async _fetch(path, { params, method = 'GET', body, signal, accept } = {}) {
    const url = new URL(this.apiBase + path);
    for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, String(v));
    let response;
    try {
      response = await fetch(url, {
        method,
        signal,
        credentials: this._credentials(),
        headers: this._headers({
          ...(accept ? { Accept: accept } : {}),
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        }),
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (error) {
      if (error?.name === 'AbortError') throw error;
      throw new RequestError(0, 'network', String(error?.message || error));
    }
    if (!response.ok) throw await requestErrorFrom(response);
    return response;
  }

  async _getJson(path, params, signal) {
    const response = await this._fetch(path, { params, signal });
    try {
      return await response.json();
    } catch (error) {
      if (error?.name === 'AbortError') throw error;
      throw new RequestError(response.status, 'bad_response', 'invalid JSON');
    }
  }

  _errorMessage(error) {
    const t = this._t;
    const status = error?.status ?? 0;
    if (status === 0) return t.errNetwork;
    if (status === 401 || status === 403) return t.errAuth(status);
    if (status === 429) return t.errRate;
    if (status >= 500) return t.errUnavailable(status);
    return t.errRequest(status, error.message);
  }

  // ---- typeahead ----

  _onInput() {
    this._syncClear();
    const query = this._input.value.trim();
    this._cancelSuggestions();
    if (!query) {
      this._suggestions = [];
      this._closeList();
      return;
    }
    this._timer = setTimeout(() => this._fetchSuggestions(query), DEBOUNCE_MS);
  }

  _onFocus() {
    // Reopen the last suggestions when they still match the text.
    if (this._suggestions.length && this._suggestionsFor === this._input.value.trim()) this._openList();
  }

  _cancelSuggestions() {
    clearTimeout(this._timer);
    this._suggestAbort?.abort();
    this._suggestSeq++;
  }

  async _fetchSuggestions(query) {
    const seq = ++this._suggestSeq;
    const controller = new AbortController();
    this._suggestAbort = controller;
    let data;
    try {
      data = await this._getJson('/v1/suggest', { q: query, limit: this.suggestLimit }, controller.signal);
    } catch {
      // Suggestions are a convenience: a failure closes the list and the search still works.
      if (seq === this._suggestSeq) {
        this._suggestions = [];
        this._closeList();
      }
      return;
    }
    // A newer keystroke, a search or a blur made this response stale.
    if (seq !== this._suggestSeq || this._input.value.trim() !== query) return;
    this._suggestions = Array.isArray(data?.suggestions) ? data.suggestions.filter((s) => s && s.text) : [];
    this._suggestionsFor = query;
    this._active = -1;
    this._renderSuggestions();
    if (this._suggestions.length && this.shadowRoot.activeElement === this._input) {
      this._openList();
      this._suggestionsLive.textContent = this._t.suggestionsAvailable(this._suggestions.length);
    } else {
      this._closeList();
    }
  }

  _renderSuggestions() {
    const t = this._t;
    const options = this._suggestions.map((s, i) => {
      const kind = s.kind === 'column' ? 'column' : 'dataset';
      let text = s.text;
      if (kind === 'column' && s.dataset && s.column && s.text === `${s.dataset}.${s.column}`) {
        text = [h('span', { class: 'ds' }, `${s.dataset}.`), h('wbr'), s.column];
      }
      return h(
        'li',
        {
          id: `option-${i}`,
          role: 'option',
          part: 'option',
          'aria-selected': i === this._active ? 'true' : 'false',
          'data-index': i,
          'data-kind': kind,
          'data-value': s.text,
        },
        h('span', { class: 'kind' }, t.kind[kind]),
        h('span', { class: 'opt-text' }, text),
        s.description ? h('span', { class: 'opt-desc' }, s.description) : null,
      );
    });
    this._listbox.replaceChildren(...options);
  }

  _openList() {
    if (!this._suggestions.length) return;
    this._listbox.hidden = false;
    this._input.setAttribute('aria-expanded', 'true');
  }

  _closeList() {
    this._listbox.hidden = true;
    this._input.setAttribute('aria-expanded', 'false');
    this._setActive(-1);
  }

  get _listOpen() {
    return !this._listbox.hidden;
  }

  _setActive(index) {
    this._active = index;
    for (const option of this._listbox.children) {
      option.setAttribute('aria-selected', Number(option.dataset.index) === index ? 'true' : 'false');
    }
    if (index >= 0) {
      this._input.setAttribute('aria-activedescendant', `option-${index}`);
      this._listbox.children[index]?.scrollIntoView({ block: 'nearest' });
    } else {
      this._input.removeAttribute('aria-activedescendant');
    }
  }

  _move(delta) {
    const n = this._suggestions.length;
    if (!n) return;
    if (!this._listOpen) this._openList();
    let next = this._active + delta;
    if (next >= n) next = 0;
    if (next < -1) next = n - 1;
    this._setActive(next);
  }

  _pick(index) {
    const suggestion = this._suggestions[index];
    if (!suggestion) return;
    this._input.value = suggestion.text;
    this._syncClear();
    this._search(suggestion.text);
  }

  _onKeyDown(event) {
    if (event.isComposing) return;
    switch (event.key) {
      case 'ArrowDown':
        if (!this._suggestions.length) return;
        event.preventDefault();
        this._move(1);
        break;
      case 'ArrowUp':
        if (!this._listOpen) return;
        event.preventDefault();
        this._move(-1);
        break;
      case 'Enter':
        event.preventDefault();
        if (event.ctrlKey || event.metaKey) this._ask(this._input.value);
        else if (this._listOpen && this._active >= 0) this._pick(this._active);
        else this._search(this._input.value);
        break;
      case 'Escape':
        if (this._listOpen) {
          event.preventDefault();
          this._cancelSuggestions();
          this._closeList();
        } else if (this._input.value) {
          event.preventDefault();
          this._cancelSuggestions();
          this._suggestions = [];
          this._input.value = '';
          this._syncClear();
        }
        break;
      case 'Tab':
        this._closeList();
        break;
      default:
    }
  }

  // ---- search ----

  async _search(rawQuery, append = false) {
    const query = (rawQuery || '').trim();
    this._cancelSuggestions();
    this._suggestions = [];
    this._closeList();
    if (!query) {
      this._setStatus({ text: this._t.emptyQuery });
      this._input.focus();
      return;
    }
    this._searchAbort?.abort();
    const controller = new AbortController();
    this._searchAbort = controller;
    const seq = ++this._searchSeq;
    if (!append && this._answerState && this._answerState.question !== query) {
      this._askAbort?.abort();
      this._askSeq++;
      this._answerState = null;
      this._answer.hidden = true;
    }
    const offset = append ? this._searchState?.results.length ?? 0 : 0;
    this._results.setAttribute('aria-busy', 'true');
    if (append) this._moreButton.disabled = true;
    else this._setStatus({ text: this._t.searching, loading: true });
    let data;
    try {
      data = await this._getJson('/v1/search', { q: query, limit: this.limit, offset }, controller.signal);
    } catch (error) {
      if (error?.name === 'AbortError' || seq !== this._searchSeq) return;
      this._results.removeAttribute('aria-busy');
      this._moreButton.disabled = false;
      if (!append) {
        this._searchState = null;
        this._results.replaceChildren();
        this._moreButton.hidden = true;
      }
      this._setStatus({ text: this._errorMessage(error), error: true });
      return;
    }
    if (seq !== this._searchSeq) return;
    this._results.removeAttribute('aria-busy');
    this._moreButton.disabled = false;
    const results = Array.isArray(data?.results) ? data.results : [];
    this._searchState = {
      query,
      total: Number.isFinite(data?.total) ? data.total : results.length,
      results: append && this._searchState ? [...this._searchState.results, ...results] : results,
      took_ms: data?.took_ms,
    };
    this._renderResults();
    this.dispatchEvent(
      new CustomEvent('descoberta-search', {
        bubbles: true,
        composed: true,
        detail: { query, total: this._searchState.total },
      }),
    );
  }

  /** Sets the status line (a polite live region); `quiet`: announced but not shown. */
  _setStatus({ text = '', loading = false, error = false, hint = '', extra = null, quiet = false } = {}) {
    this._status.dataset.state = error ? 'error' : loading ? 'loading' : text ? 'info' : 'idle';
    this._status.toggleAttribute('data-quiet', quiet);
    const children = [];
    if (loading && !quiet) children.push(h('span', { class: 'spinner', 'aria-hidden': 'true' }));
    if (text) children.push(h('span', { class: quiet ? 'msg vh' : 'msg' }, text));
    if (extra) children.push(extra);
    if (hint) children.push(h('span', { class: 'hint' }, hint));
    this._status.replaceChildren(...children);
  }

  _renderResults() {
    const state = this._searchState;
    if (!state) return;
    const t = this._t;
    if (!state.results.length) {
      this._setStatus({ text: t.none(state.query), hint: t.noneHint });
    } else {
      const shown = state.results.length < state.total ? ` · ${t.shown(state.results.length, state.total)}` : '';
      this._setStatus({ extra: h('span', {}, h('strong', {}, t.count(state.total, state.query)), shown) });
      if (Number.isFinite(state.took_ms)) {
        const ms = (Math.round(state.took_ms * 10) / 10).toLocaleString(this.language);
        this._status.append(h('span', { class: 'took' }, `· ${t.tookMs(ms)}`));
      }
    }
    this._results.replaceChildren(...state.results.map((r) => this._renderResult(r)));
    this._moreButton.hidden = !(state.results.length && state.results.length < state.total);
  }

  _renderResult(result) {
    const t = this._t;
    const name = String(result.dataset ?? '');
    const link = h('a', { href: this.datasetUrl(name), part: 'result-link' });
    const nameSnippet = highlight(result.highlights, 'name');
    if (nameSnippet && snippetText(nameSnippet) === name) setSnippet(link, nameSnippet);
    else link.textContent = name;

    const level = SENSITIVITIES.includes(result.sensitivity) ? result.sensitivity : 'unknown';
    const badge = h(
      'span',
      { class: `badge ${level}`, title: `${t.sensitivity}: ${t.levels[level] ?? result.sensitivity ?? ''}` },
      t.levels[level] ?? String(result.sensitivity ?? '?'),
    );

    const description = h('p', { class: 'desc' });
    const descSnippet = highlight(result.highlights, 'description');
    if (descSnippet) setSnippet(description, descSnippet);
    else if (result.description) description.textContent = result.description;
    else {
      description.textContent = t.noDescription;
      description.classList.add('none');
    }

    const facts = [
      [t.owner, result.owner],
      [t.domain, result.domain],
      [t.location, result.location ? h('code', {}, result.location) : null],
      [t.related, result.related ? h('span', { class: 'related' }, result.related) : null],
    ].filter(([, v]) => v);
    const meta = facts.length
      ? h('dl', { class: 'meta' }, facts.map(([k, v]) => h('div', {}, h('dt', {}, `${k}:`), h('dd', {}, v))))
      : null;

    const tags = Array.isArray(result.tags) && result.tags.length
      ? h(
          'ul',
          { class: 'tags', 'aria-label': t.tags },
          result.tags.slice(0, TAGS_SHOWN).map((tag) => h('li', {}, String(tag))),
          result.tags.length > TAGS_SHOWN ? h('li', {}, `+${result.tags.length - TAGS_SHOWN}`) : null,
        )
      : null;

    let columns = null;
    const cols = Array.isArray(result.columns) ? result.columns : [];
    if (cols.length) {
      const titleId = `cols-${this._id}-${Math.random().toString(36).slice(2, 8)}`;
      const items = cols.slice(0, COLUMNS_SHOWN).map((c) => {
        const colName = String(c.name ?? '');
        const nameEl = h('a', {
          class: 'col-name',
          href: `${this.datasetUrl(name)}#column-${encodeURIComponent(colName)}`,
        });
        const code = h('code', {});
        const colNameSnippet = highlight(c.highlights, 'name');
        if (colNameSnippet && snippetText(colNameSnippet) === colName) setSnippet(code, colNameSnippet);
        else code.textContent = colName;
        nameEl.append(code);
        const desc = h('span', { class: 'col-desc' });
        const colDescSnippet = highlight(c.highlights, 'description');
        if (colDescSnippet) setSnippet(desc, colDescSnippet);
        else if (c.description) desc.textContent = c.description;
        desc.title = c.description || '';
        return h(
          'li',
          { 'data-column': colName },
          nameEl,
          c.data_type ? h('span', { class: 'col-type' }, String(c.data_type)) : null,
          desc.textContent ? desc : null,
        );
      });
      if (cols.length > COLUMNS_SHOWN) items.push(h('li', { class: 'col-more' }, t.moreColumns(cols.length - COLUMNS_SHOWN)));
      columns = [
        h('p', { class: 'cols-title', id: titleId }, t.matchingColumns),
        h('ul', { class: 'cols', 'aria-labelledby': titleId }, items),
      ];
    }

    return h(
      'li',
      { class: 'result', part: 'result', 'data-dataset': name },
      h('div', { class: 'result-head' }, h('h3', {}, link), badge),
      description,
      this._renderGlossary(result.glossary),
      meta,
      tags,
      columns,
    );
  }

  /**
   * The glossary terms a hit matched through (`[{term, matched}]`): one line per term, each
   * with `data-glossary-term`; nothing when there are none.
   */
  _renderGlossary(glossary) {
    const t = this._t;
    const seen = new Set();
    const items = [];
    for (const entry of Array.isArray(glossary) ? glossary : []) {
      const term = typeof entry?.term === 'string' ? entry.term.trim() : '';
      if (!term || seen.has(term)) continue;
      seen.add(term);
      const matched = typeof entry.matched === 'string' ? entry.matched.trim() : '';
      const text = t.glossaryMatch(term);
      const at = text.indexOf(term);
      const label = at >= 0 ? [text.slice(0, at), h('span', { class: 'term' }, term), text.slice(at + term.length)] : [text];
      items.push(
        h(
          'li',
          {
            'data-glossary-term': term,
            'data-glossary-matched': matched || null,
            title: matched && matched.toLowerCase() !== term.toLowerCase() ? t.glossaryVia(matched) : null,
          },
          h('span', {}, label),
        ),
      );
    }
    return items.length ? h('ul', { class: 'glossary', part: 'glossary' }, items) : null;
  }

  // ---- ask ----

  async _ask(rawQuestion) {
    const question = (rawQuestion || '').trim();
    this._cancelSuggestions();
    this._suggestions = [];
    this._closeList();
    if (!question) {
      this._setStatus({ text: this._t.emptyQuery });
      this._input.focus();
      return;
    }
    this._askAbort?.abort();
    const controller = new AbortController();
    this._askAbort = controller;
    const seq = ++this._askSeq;
    if (this._searchState && this._searchState.query !== question) {
      this._searchAbort?.abort();
      this._searchSeq++;
      this._searchState = null;
      this._results.replaceChildren();
      this._moreButton.hidden = true;
    }
    const state = { question, state: 'loading', text: '', retrieved: 0, done: null, error: null };
    this._answerState = state;
    this._setStatus({ text: this._t.asking, loading: true, quiet: true });
    this._renderAnswer();
    const stale = () => seq !== this._askSeq;
    try {
      const body = { question };
      const askLimit = Number.parseInt(this.getAttribute('ask-limit') ?? '', 10);
      if (Number.isFinite(askLimit)) body.limit = Math.min(Math.max(askLimit, 1), 20);
      const response = await this._fetch('/v1/ask/stream', {
        method: 'POST',
        body,
        signal: controller.signal,
        accept: 'text/event-stream',
      });
      for await (const frame of readEvents(response.body)) {
        if (stale()) return;
        let data;
        try {
          data = JSON.parse(frame.data);
        } catch {
          continue;
        }
        if (frame.event === 'datasets') {
          state.retrieved = Array.isArray(data?.datasets) ? data.datasets.length : 0;
          this._renderAnswer();
        } else if (frame.event === 'token') {
          if (typeof data?.text === 'string') {
            state.text += data.text;
            state.state = 'streaming';
            this._renderAnswerText();
          }
        } else if (frame.event === 'done') {
          state.done = data;
          state.state = 'done';
          break;
        } else if (frame.event === 'error') {
          throw new RequestError(500, data?.error?.code, data?.error?.message);
        }
      }
      if (stale()) return;
      if (!state.done) {
        state.state = 'error';
        state.error = this._t.errInterrupted;
      }
    } catch (error) {
      if (error?.name === 'AbortError' || stale()) return;
      state.state = 'error';
      state.error =
        error instanceof RequestError && error.status === 500 && error.code && error.code !== 'internal'
          ? this._t.errAnswer(error.message)
          : this._errorMessage(error);
    }
    if (stale()) return;
    this._renderAnswer();
    if (state.state === 'done') {
      this._setStatus({ text: this._t.answerReady, quiet: true });
      this.dispatchEvent(
        new CustomEvent('descoberta-answer', {
          bubbles: true,
          composed: true,
          detail: {
            question,
            answer: state.done.answer,
            mode: state.done.mode,
            datasets: (state.done.datasets || []).map((d) => d.dataset),
          },
        }),
      );
    } else {
      this._setStatus({ text: state.error, error: true, quiet: true });
    }
  }

  _renderAnswerText() {
    const text = this._answerBody.querySelector('.answer-text');
    const state = this._answerState;
    if (!text || !state || this._answerBody.querySelector('.answer-meta')) return this._renderAnswer();
    this._answer.dataset.state = state.state;
    text.textContent = state.text;
  }

  _renderAnswer() {
    const state = this._answerState;
    if (!state) {
      this._answer.hidden = true;
      return;
    }
    const t = this._t;
    this._answer.hidden = false;
    this._answer.dataset.state = state.state;
    this._answer.setAttribute('aria-busy', state.state === 'loading' || state.state === 'streaming' ? 'true' : 'false');
    const children = [];
    if (state.state === 'error') {
      children.push(h('p', { class: 'answer-error' }, state.error));
    } else if (state.state === 'done') {
      const done = state.done || {};
      const named = Array.isArray(done.datasets) ? done.datasets.filter((d) => d && d.dataset) : [];
      children.push(h('p', { class: 'answer-text' }, this._linkNames(String(done.answer ?? ''), named.map((d) => d.dataset))));
      const meta = [done.mode === 'llm' ? t.modeLlm : t.modeExtractive];
      if (Number.isFinite(done.took_ms)) meta.push(t.tookMs(new Intl.NumberFormat(this.language).format(Math.round(done.took_ms))));
      children.push(h('p', { class: 'answer-meta', 'data-mode': done.mode || '' }, meta.join(' · ')));
      if (done.warning) children.push(h('p', { class: 'answer-warning', role: 'note' }, String(done.warning)));
      children.push(h('h3', {}, named.length ? t.named : t.noneNamed));
      if (named.length) {
        children.push(
          h(
            'ul',
            { class: 'answer-datasets' },
            named.map((d) =>
              h(
                'li',
                { 'data-answer-dataset': d.dataset },
                h('a', { href: this.datasetUrl(d.dataset) }, d.dataset),
                d.reason ? h('span', { class: 'reason' }, ` — ${d.reason}`) : null,
                this._renderGlossary(d.glossary),
              ),
            ),
          ),
        );
      }
    } else {
      children.push(h('p', { class: 'answer-text' }, state.text));
      const waiting = state.retrieved ? t.consulting(state.retrieved) : t.asking;
      if (!state.text) {
        children.push(h('p', { class: 'answer-meta' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), waiting));
      }
    }
    this._answerBody.replaceChildren(...children);
  }

  /** The answer text with each named dataset turned into a link (all as text nodes). */
  _linkNames(text, names) {
    const unique = [...new Set(names)].filter(Boolean).sort((a, b) => b.length - a.length);
    if (!unique.length) return text;
    const escaped = unique.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const pattern = new RegExp(`(?<![\\w.])(${escaped.join('|')})(?![\\w])`, 'g');
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      if (match.index > last) parts.push(text.slice(last, match.index));
      parts.push(h('a', { href: this.datasetUrl(match[1]) }, match[1]));
      last = match.index + match[1].length;
    }
    if (last < text.length) parts.push(text.slice(last));
    return parts;
  }
}

if (!customElements.get('descoberta-search')) {
  customElements.define('descoberta-search', DescobertaSearch);
}

export { DescobertaSearch };
