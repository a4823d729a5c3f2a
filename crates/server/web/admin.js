// @ts-check
// Administration: queues (targets, priority, everything as JSON), agents
// (team, site, skills), log-ins, teams, sites, skills, services (entry
// points and opening hours) and the chat desk's quick replies. Every
// change goes through the API, in force at once.

import { session, $, el, api, errorOf, showFieldErrors, label } from '/ui.js';

/** @template {keyof import('/ui.js').Schemas} K @typedef {import('/ui.js').Schema<K>} Schema */
/** @template [T=any] @typedef {import('/ui.js').Answer<T>} Answer */
/** A team, site, skill or queue: what a list of them shows. @typedef {{ id: number, name: string }} Named */

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/**
 * "mon-fri 08:00-18:30" lines into weekly sessions; throws naming the line.
 * @param {string} text
 * @returns {{ days: string[], open: string, close: string }[]}
 */
function parseHours(text) {
  const weekly = [];
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const m = /^([a-z,-]+)\s+(\d\d:\d\d)-(\d\d:\d\d)$/i.exec(line);
    if (!m) throw new Error(`hours: "${line}" is not like "mon-fri 08:00-18:30"`);
    const days = [];
    for (const part of m[1].toLowerCase().split(',')) {
      const [from, to] = part.split('-');
      const i = DAYS.indexOf(from);
      const j = to === undefined ? i : DAYS.indexOf(to);
      if (i < 0 || j < 0 || j < i) throw new Error(`hours: "${part}" is not a day or range of days (mon..sun)`);
      days.push(...DAYS.slice(i, j + 1));
    }
    weekly.push({ days, open: m[2], close: m[3] });
  }
  return weekly;
}

/** A service's opening hours in one line. @param {Schema<'Calendar'> | null} h */
function showHours(h) {
  if (!h) return 'always open';
  return h.weekly.map((s) => `${s.days.join(',')} ${s.open}-${s.close}`).join('; ') || 'closed';
}

/** @param {[number, number][]} skills */
const skillsText = (skills) => skills.map(([s, l]) => `${s}:${l}`).join(', ');
/** "1:3, 4:1" → [[1, 3], [4, 1]]; throws naming the part. @param {string} text @returns {[number, number][]} */
function parseSkills(text) {
  /** @type {[number, number][]} */
  const out = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+):(\d+)$/.exec(part);
    if (!m) throw new Error(`skills: "${part}" is not skill:level`);
    out.push([Number(m[1]), Number(m[2])]);
  }
  return out;
}
/** The next free id in a list. @param {{ id: number }[]} items */
const nextId = (items) => items.reduce((m, x) => Math.max(m, x.id), 0) + 1;

async function adminPage() {
  /** @type {Schema<'Config'>} */
  let config = null;
  /** @param {Named[]} list @param {number} id */
  const nameOf = (list, id) => list.find((x) => x.id === id)?.name ?? id;

  async function loadConfig() {
    /** @type {Answer<Schema<'Config'>>} */
    const res = await api('GET', '/api/v1/config');
    if (res.ok) config = res.data;
    return res.ok;
  }

  function queuesTable() {
    $('#queue-rows').replaceChildren(...config.queues.map((q) => {
      const prio = el('input', { id: `prio-${q.id}`, value: q.priority, inputmode: 'numeric', size: 6, 'aria-label': `${q.name} priority` });
      const within = el('input', { id: `within-${q.id}`, value: q.target.within / 1000, inputmode: 'numeric', size: 6, 'aria-label': `${q.name} target seconds` });
      const percent = el('input', { id: `percent-${q.id}`, value: q.target.percent, inputmode: 'numeric', size: 4, 'aria-label': `${q.name} target percent` });
      const json = el('textarea', { rows: 8, cols: 60, 'aria-label': `${q.name} as JSON` }, JSON.stringify(q, null, 1));
      const msg = el('p', { class: 'field-error', role: 'alert' });
      /** @param {Schema<'QueueDefAnswer'>} def */
      const put = async (def) => {
        const r = await api('PUT', `/api/v1/queues/${q.id}`, def);
        msg.textContent = r.ok ? 'Saved: in force now.' : errorOf(r);
        if (r.ok) { Object.assign(q, def); json.value = JSON.stringify(q, null, 1); }
      };
      const save = () => {
        const def = { ...q, priority: Number(prio.value), target: { within: Math.round(Number(within.value) * 1000), percent: Number(percent.value) } };
        if (![def.priority, def.target.within, def.target.percent].every(Number.isFinite)) {
          msg.textContent = 'priority and target: numbers only';
          return;
        }
        put(def);
      };
      const saveJson = () => {
        let def;
        try { def = JSON.parse(json.value); } catch (e) { msg.textContent = `JSON: ${e.message}`; return; }
        put(def);
      };
      const steps = q.overflow.map((s) => `after ${s.after / 1000} s: ${typeof s.action === 'string' ? label(s.action) : label(Object.keys(s.action)[0])}`);
      return el('tr', { dataset: { queue: q.id } }, el('th', { scope: 'row' }, q.name), el('td', {}, prio), el('td', {}, within),
        el('td', {}, percent),
        el('td', {}, steps.length ? el('ol', {}, steps.map((t) => el('li', {}, t))) : 'none',
          el('details', {}, el('summary', {}, 'Edit everything (overflow steps too) as JSON'), json,
            el('button', { type: 'button', class: 'secondary', onclick: saveJson }, `Save ${q.name} JSON`))),
        el('td', {}, el('button', { type: 'button', class: 'save', onclick: save }, `Save ${q.name}`), msg));
    }));
  }

  function agentsTable() {
    $('#skill-legend').textContent = config.skills.map((k) => `${k.id} ${k.name}`).join(', ');
    /** @param {string} id @param {number} value @param {string} name */
    const teamSelect = (id, value, name) => el('select', { id, 'aria-label': name }, config.teams.map((t) => el('option', { value: t.id, selected: t.id === value }, t.name)));
    /** @param {string} id @param {number} value @param {string} name */
    const siteSelect = (id, value, name) => el('select', { id, 'aria-label': name }, config.sites.map((t) => el('option', { value: t.id, selected: t.id === value }, t.name)));
    $('#agent-rows').replaceChildren(...config.agents.map((a) => {
      const team = teamSelect(`team-${a.id}`, a.team, `${a.name} team`);
      const site = siteSelect(`site-${a.id}`, a.site, `${a.name} site`);
      const skills = el('input', { id: `skills-${a.id}`, value: skillsText(a.skills), 'aria-label': `${a.name} skills` });
      const msg = el('p', { class: 'field-error', role: 'alert' });
      const save = async () => {
        let parsed;
        try { parsed = parseSkills(skills.value); } catch (e) { msg.textContent = e.message; return; }
        const def = { ...a, team: Number(team.value), site: Number(site.value), skills: parsed };
        const r = await api('PUT', `/api/v1/agents/${a.id}`, def);
        msg.textContent = r.ok ? 'Saved: in force now.' : errorOf(r);
        if (r.ok) Object.assign(a, def);
      };
      return el('tr', { dataset: { agent: a.id } }, el('th', { scope: 'row' }, a.name), el('td', {}, team), el('td', {}, site),
        el('td', {}, skills), el('td', {}, el('button', { type: 'button', onclick: save }, `Save ${a.name}`), msg));
    }));
    for (const [sel, list] of /** @type {[string, Named[]][]} */ ([['#a-team', config.teams], ['#a-site', config.sites], ['#sv-queue', config.queues]])) {
      $(sel).replaceChildren(...list.map((x) => el('option', { value: x.id }, x.name)));
    }
    for (const [sel, list] of /** @type {[string, Named[]][]} */ ([['#team-list', config.teams], ['#site-list', config.sites], ['#skill-list', config.skills]])) {
      $(sel).replaceChildren(...list.map((x) => el('li', {}, `${x.id}: ${x.name}`)));
    }
  }

  async function usersTable() {
    /** @type {Answer<Schema<'Users'>>} */
    const res = await api('GET', '/api/v1/users');
    if (!res.ok) return;
    $('#user-rows').replaceChildren(...res.data.users.map((u) => el('tr', {},
      el('td', {}, u.username, u.demo ? ' (demo)' : ''), el('td', {}, u.display_name), el('td', {}, u.role),
      el('td', {}, u.agent ?? ''), el('td', {}, u.disabled ? 'disabled' : 'active'),
      el('td', {}, el('button', { type: 'button', class: 'secondary', onclick: async () => {
        const r = await api('POST', `/api/v1/users/${u.id}/${u.disabled ? 'enable' : 'disable'}`);
        if (!r.ok) alert(errorOf(r));
        usersTable();
      } }, u.disabled ? `Enable ${u.username}` : `Disable ${u.username}`)))));
  }

  /** @type {Schema<'Service'>[]} */
  let services = [];
  async function servicesTable() {
    /** @type {Answer<Schema<'Services'>>} */
    const res = await api('GET', '/api/v1/services');
    if (!res.ok) return;
    services = res.data.services;
    $('#service-rows').replaceChildren(...services.map((s) => el('tr', { dataset: { service: s.id } },
      el('td', {}, `${s.id}: ${s.service.name}`), el('td', {}, nameOf(config.queues, s.service.queue)),
      el('td', {}, s.service.entry_points.map((e) => `${e.kind} ${e.address}`).join(', ')),
      el('td', {}, `${s.open_now ? 'open' : 'closed'} (${showHours(s.service.hours)})`))));
    if (!services.length) $('#service-rows').append(el('tr', {}, el('td', { colspan: 4 }, 'No services yet.')));
    if (!$('#sv-id').value) $('#sv-id').value = nextId(services);
  }

  const userForm = $('#user-form');
  userForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const agent = $('#u-agent').value.trim();
    /** @type {Omit<Schema<'NewUser'>, 'agent'> & { agent?: number }} */
    const body = { username: $('#u-username').value.trim(), display_name: $('#u-name').value.trim(),
      role: $('#u-role').value, password: $('#u-password').value };
    if (agent) {
      if (!/^\d+$/.test(agent)) { showFieldErrors(userForm, 'agent: an agent id (digits)'); return; }
      body.agent = Number(agent);
    }
    const res = await api('POST', '/api/v1/users', body);
    if (!res.ok) { showFieldErrors(userForm, errorOf(res)); return; }
    showFieldErrors(userForm, '');
    userForm.reset();
    usersTable();
  });

  const agentForm = $('#agent-form');
  agentForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    let skills;
    try { skills = parseSkills($('#a-skills').value); } catch (err) { showFieldErrors(agentForm, err.message); return; }
    const name = $('#a-name').value.trim();
    if (!name) { showFieldErrors(agentForm, 'name: give the agent a name'); return; }
    const id = nextId(config.agents);
    const def = { id, name, team: Number($('#a-team').value), site: Number($('#a-site').value), skills,
      capacity: { voice: 1, chat: 0, email: 0, sms: 0, voice_exclusive: true }, auto_answer: false };
    const res = await api('PUT', `/api/v1/agents/${id}`, def);
    if (!res.ok) { showFieldErrors(agentForm, errorOf(res)); return; }
    showFieldErrors(agentForm, '');
    agentForm.reset();
    await loadConfig();
    agentsTable();
  });

  for (const [form, input, path, list] of /** @type {[string, string, string, 'teams' | 'sites' | 'skills'][]} */ ([['#team-form', '#t-name', '/api/v1/teams', 'teams'],
    ['#site-form', '#s-name', '/api/v1/sites', 'sites'], ['#skill-form', '#k-name', '/api/v1/skills', 'skills']])) {
    $(form).addEventListener('submit', async (e) => {
      e.preventDefault();
      const name = $(input).value.trim();
      if (!name) { showFieldErrors($(form), 'name: give it a name'); return; }
      const res = await api('POST', path, { id: nextId(config[list]), name });
      if (!res.ok) { showFieldErrors($(form), errorOf(res)); return; }
      showFieldErrors($(form), '');
      $(input).value = '';
      await loadConfig();
      agentsTable();
    });
  }

  const serviceForm = $('#service-form');
  serviceForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const id = $('#sv-id').value.trim();
    if (!/^\d+$/.test(id)) { showFieldErrors(serviceForm, 'id: a service number (digits)'); return; }
    /** @type {{ kind: string, address: string }[]} */
    const entry_points = [];
    for (const line of $('#sv-entry').value.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const [kind, ...rest] = line.split(/\s+/);
      if (!['phone', 'email', 'chat', 'web'].includes(kind) || !rest.length) {
        showFieldErrors(serviceForm, `entry_points: "${line}" is not like "phone 01622 000 002"`);
        return;
      }
      entry_points.push({ kind, address: rest.join(' ') });
    }
    /** @type {{ name: string, queue: number, entry_points: { kind: string, address: string }[], hours?: object }} */
    const body = { name: $('#sv-name').value.trim(), queue: Number($('#sv-queue').value), entry_points };
    try {
      const weekly = parseHours($('#sv-hours').value);
      const holidays = $('#sv-holidays').value.split('\n').map((l) => l.trim()).filter(Boolean);
      if (weekly.length || holidays.length) body.hours = { weekly, bank_holidays: holidays };
    } catch (err) { showFieldErrors(serviceForm, err.message); return; }
    const res = await api('PUT', `/api/v1/services/${id}`, body);
    if (!res.ok) { showFieldErrors(serviceForm, errorOf(res)); return; }
    showFieldErrors(serviceForm, '');
    serviceForm.reset();
    servicesTable();
  });

  if (await loadConfig()) {
    queuesTable();
    agentsTable();
  }
  await Promise.all([usersTable(), servicesTable()]);

  // Quick replies: a title and a text a row; saved as a whole.
  /** @param {Schema<'QuickReply'>} [r] */
  const quickRow = (r = { title: '', text: '' }) => {
    const n = document.querySelectorAll('.quick-row').length + 1;
    const row = el('div', { class: 'row quick-row' },
      el('div', {}, el('label', { for: `qr-title-${n}` }, `Title ${n}`), el('input', { id: `qr-title-${n}`, class: 'qr-title', maxlength: 60, value: r.title })),
      el('div', {}, el('label', { for: `qr-text-${n}` }, `Text ${n}`), el('textarea', { id: `qr-text-${n}`, class: 'qr-text', rows: 2, cols: 50, maxlength: 1000 }, r.text)),
      el('button', { type: 'button', class: 'secondary', onclick: () => row.remove() }, `Remove reply ${n}`));
    $('#quick-rows').append(row);
    return row;
  };
  /** @type {Answer<Schema<'QuickReplies'>>} */
  const qr = await api('GET', '/api/v1/quick-replies');
  if (qr.ok) qr.data.replies.forEach((r) => quickRow(r));
  $('#quick-add').addEventListener('click', () => quickRow().querySelector('input').focus());
  $('#quick-save').addEventListener('click', async () => {
    const replies = [...document.querySelectorAll('.quick-row')].map((row) => ({
      title: $('.qr-title', row).value, text: $('.qr-text', row).value,
    })).filter((r) => r.title.trim() || r.text.trim());
    const res = await api('PUT', '/api/v1/quick-replies', { replies });
    $('#quick-status').textContent = res.ok ? `Saved ${res.data.saved} quick replies.` : errorOf(res);
  });
}

session.then((me) => { if (me) adminPage(); });
