// The inspector page: everything comes from this agent's own server (no external resources). Text from the agent
// is always set as textContent, never as HTML: vPLC names and errors come from outside.

const MAX_LOG = 1000;
const view = { actors: [], log: [], timelines: {}, dropped: 0 };
let selected = null;
let viz = null;
let dots = {};
const svgs = {};
let drawnMachine = null;

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('data-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c) node.append(c);
  return node;
};
const time = (ms) => new Date(ms).toISOString().slice(11, 23);
const duration = (ms) =>
  ms === null
    ? 'now'
    : ms < 1000
      ? `${ms} ms`
      : ms < 120000
        ? `${(ms / 1000).toFixed(1)} s`
        : `${Math.round(ms / 60000)} min`;

function vplcName(actorId) {
  return actorId?.startsWith('vplc:') ? actorId.slice(5) : null;
}

function renderActors() {
  const list = $('actors');
  list.replaceChildren();
  for (const a of view.actors) {
    const dl = el('dl');
    for (const [k, v] of Object.entries(a.context)) {
      if (v === null || v === '' || v === false) continue;
      dl.append(el('dt', { text: k }), el('dd', { text: String(v) }));
    }
    const li = el(
      'li',
      { 'data-actor': a.id, 'data-state': a.state, class: a.id === selected ? 'selected' : '' },
      el('span', { class: 'status', text: a.status }),
      el('div', { class: 'id', text: a.id }),
      el('div', { class: 'state', text: a.state }),
      dl,
    );
    li.addEventListener('click', () => {
      selected = a.id;
      render();
    });
    list.append(li);
  }
  const filter = $('log-filter');
  const chosen = filter.value;
  const ids = new Set([...view.actors.map((a) => a.id), ...view.log.map((e) => e.actor)]);
  filter.replaceChildren(el('option', { value: '', text: 'all actors' }));
  for (const id of [...ids].sort()) filter.append(el('option', { value: id, text: id }));
  filter.value = chosen;
}

function renderDiagram() {
  const actor = view.actors.find((a) => a.id === selected);
  const box = $('diagram');
  $('diagram-title').textContent = actor ? `Machine: ${actor.machine} (${actor.id})` : 'Machine';
  $('current').textContent = actor ? `state: ${actor.state}` : selected ? `${selected} is gone` : '';
  box.dataset.actor = actor ? actor.id : '';
  box.dataset.state = actor ? actor.state : '';
  if (!actor || !viz || !dots[actor.machine]) return;
  if (drawnMachine !== actor.machine) {
    svgs[actor.machine] ??= viz.renderSVGElement(dots[actor.machine]);
    const svg = svgs[actor.machine].cloneNode(true);
    // At its natural size (1 unit = 1 px), readable; the box scrolls to the current state.
    const { width, height } = svg.viewBox.baseVal;
    svg.setAttribute('width', `${width}px`);
    svg.setAttribute('height', `${height}px`);
    box.replaceChildren(svg);
    box.dataset.machine = actor.machine;
    box.dataset.shown = '';
    drawnMachine = actor.machine;
  }
  const active = new Set(actor.active);
  let leaf = null;
  for (const g of box.querySelectorAll('g.node, g.cluster')) {
    const title = g.querySelector(':scope > title')?.textContent ?? '';
    const id = title.startsWith('cluster_') ? title.slice(8) : title;
    g.classList.toggle('active', active.has(id));
    if (active.has(id) && g.classList.contains('node')) leaf = g;
  }
  // The whole machine does not fit: bring the current state into view when it changes.
  const key = `${actor.id} ${actor.state}`;
  if (leaf && box.dataset.shown !== key) {
    box.dataset.shown = key;
    leaf.scrollIntoView({ block: 'center', inline: 'center' });
  }
}

function renderTimeline() {
  const name = vplcName(selected);
  $('timeline-title').textContent = name ? `Lifecycle timeline: ${name}` : 'Lifecycle timeline (select a vPLC)';
  const body = $('timeline').querySelector('tbody');
  body.replaceChildren();
  for (const t of (name && view.timelines[name]) || []) {
    body.append(
      el(
        'tr',
        { 'data-state': t.state },
        el('td', { text: t.state }),
        el('td', { text: time(t.at) }),
        el('td', { text: duration(t.ms) }),
        el('td', { text: String(t.restartCount) }),
        el('td', { text: t.restartBudgetLeft === null ? '' : String(t.restartBudgetLeft) }),
        el('td', { class: 'error', text: t.error ?? '' }),
      ),
    );
  }
}

function describe(e) {
  if (e.kind === 'event') {
    const fields = Object.entries(e.fields)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return `${e.from ? `${e.from} → ` : ''}${e.event}${fields ? ` ${fields}` : ''}`;
  }
  if (e.kind === 'state') return `${e.from ?? '(start)'} ⇒ ${e.to}`;
  return `step ${e.step} ${e.outcome} in ${e.ms} ms${e.error ? `: ${e.error}` : ''}`;
}

function logRow(e) {
  return el(
    'li',
    { 'data-actor': e.actor, 'data-kind': e.kind, class: `kind-${e.kind} outcome-${e.outcome ?? ''}` },
    el('span', { class: 't', text: `${time(e.at)} ` }),
    el('span', { class: 'a', text: `${e.actor} ` }),
    el('span', { class: 'what', text: describe(e) }),
  );
}

function shown(e) {
  const actor = $('log-filter').value;
  if (actor && e.actor !== actor) return false;
  return $(`log-${e.kind === 'event' ? 'events' : e.kind === 'state' ? 'states' : 'steps'}`).checked;
}

function renderLog(appended) {
  const list = $('log');
  if (!appended) list.replaceChildren(...view.log.filter(shown).reverse().map(logRow));
  else for (const e of appended) if (shown(e)) list.prepend(logRow(e));
  while (list.children.length > MAX_LOG) list.lastChild.remove();
  $('log-dropped').textContent = view.dropped ? `${view.dropped} entries dropped (too many at once)` : '';
}

function render(appended) {
  if (selected === null || (!view.actors.some((a) => a.id === selected) && !vplcName(selected))) {
    selected = view.actors.find((a) => a.machine === 'vplc')?.id ?? 'supervisor';
  }
  renderActors();
  renderDiagram();
  renderTimeline();
  renderLog(appended);
}

function connect() {
  const source = new EventSource('/api/events');
  source.addEventListener('open', () => {
    $('connection').dataset.state = 'live';
    $('connection').textContent = 'live';
  });
  source.addEventListener('error', () => {
    $('connection').dataset.state = 'lost';
    $('connection').textContent = 'connection lost; retrying…';
  });
  source.addEventListener('state', (m) => {
    Object.assign(view, JSON.parse(m.data));
    render();
  });
  source.addEventListener('batch', (m) => {
    const batch = JSON.parse(m.data);
    view.actors = batch.actors;
    view.dropped = batch.dropped;
    view.log.push(...batch.log);
    if (view.log.length > MAX_LOG) view.log.splice(0, view.log.length - MAX_LOG);
    Object.assign(view.timelines, batch.timelines);
    render(batch.log);
  });
}

async function start() {
  for (const id of ['log-filter', 'log-events', 'log-states', 'log-steps'])
    $(id).addEventListener('change', () => renderLog());
  connect();
  const [instance, diagrams] = await Promise.all([Viz.instance(), fetch('/api/diagrams').then((r) => r.json())]);
  viz = instance;
  dots = diagrams;
  document.body.dataset.diagrams = 'ready';
  render();
}

start().catch((err) => {
  document.body.dataset.diagrams = 'failed';
  $('diagram').textContent = `The diagrams could not be drawn: ${err.message}`;
});
