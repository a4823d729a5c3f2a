// @ts-check
// Administration, as forms a trust's IT administrator can use: queues
// (priority, target, the skills their contacts need, the teams that
// answer, the overflow steps as an editable list), agents (team, site and
// skills with levels, chosen from the names), log-ins, teams, sites,
// skills, services (entry points and opening hours), the chat desk's quick
// replies, and the change history from the audit trail. Every change goes
// through the API and is in force at once. Teams, sites, skills, queues
// and agents are shown by name, never by number. A form that cannot be
// saved says why in the NHS error summary (showProblems below), in plain
// words before sending, or with the server's reason at the field it names.

import { session, $, el, api, errorOf, errorSummary, label } from '/ui.js';

/** @template {keyof import('/ui.js').Schemas} K @typedef {import('/ui.js').Schema<K>} Schema */
/** @template [T=any] @typedef {import('/ui.js').Answer<T>} Answer */
/** A team, site, skill, queue or agent: what a list of them shows. @typedef {{ id: number, name: string }} Named */
/** @typedef {Schema<'QueueDefAnswer'>} Queue */
/** @typedef {Schema<'AgentDefAnswer'>} Agent */
/** @typedef {Schema<'OverflowStep'>} OverflowStep */
/** @typedef {Schema<'OverflowAction'>} OverflowAction */

/**
 * One problem with a form: its words, and the field at fault (none: the
 * form as a whole). `at`: where the field's own message goes, when not
 * just before the field (a group of check boxes: before the group).
 * @typedef {{ message: string, field?: HTMLElement | null, at?: HTMLElement | null }} Problem
 */

let serial = 0;
/** A new id for an element made here. @param {string} prefix */
const newId = (prefix) => `${prefix}-${++serial}`;

/**
 * A form's problems shown the NHS way: the shared error summary at its top
 * (ui.js errorSummary: "There is a problem", a link to each field at
 * fault, focused), and each field at fault with its own message just
 * before it, named by the field's aria-describedby (any description it had
 * is kept), inside any <details> opened. No problems: clears them. Nothing
 * here is particular to this page (a candidate for ui.js's errorSummary).
 * @param {HTMLElement} form
 * @param {Problem[]} problems
 */
function showProblems(form, problems) {
  form.querySelectorAll('.field-error[data-error-for]').forEach((n) => n.remove());
  form.querySelectorAll('[data-described-before]').forEach((n) => {
    const before = n.getAttribute('data-described-before');
    if (before) n.setAttribute('aria-describedby', before); else n.removeAttribute('aria-describedby');
    n.removeAttribute('data-described-before');
  });
  /** @type {Set<HTMLElement>} */
  const marked = new Set();
  for (const { message, field, at } of problems) {
    if (!field || marked.has(field)) continue;
    marked.add(field);
    if (!field.id) field.id = newId('field');
    for (let d = field.closest('details'); d; d = d.parentElement && d.parentElement.closest('details')) d.open = true;
    const id = `${field.id}-error`;
    const before = field.getAttribute('aria-describedby') || '';
    field.setAttribute('data-described-before', before);
    field.setAttribute('aria-describedby', `${id} ${before}`.trim());
    (at || field).before(el('p', { class: 'field-error', id, dataset: { errorFor: field.id } }, el('span', { class: 'sr-only' }, 'Error: '), message));
  }
  errorSummary(form, problems.map(({ message, field }) => ({ text: message, field })));
}

/** The API's reason without "configuration refused: queue q2 'Wheelchairs': ", first letter capital. @param {Answer} res */
function reasonOf(res) {
  const m = errorOf(res).replace(/^configuration refused: /, '').replace(/^(queue|agent) [qa]?\d+ '[^']*': /, '');
  return m.charAt(0).toUpperCase() + m.slice(1);
}

/**
 * A refused save as one problem at the field its reason names.
 * @param {Answer} res
 * @param {(reason: string) => HTMLElement | null | undefined} where the field, from the reason (lower case)
 * @param {(text: string) => string} [words] the reason as shown (ids as names)
 * @returns {Problem[]}
 */
function refused(res, where, words = (t) => t) {
  const message = reasonOf(res);
  return [{ message: words(message), field: where(message.charAt(0).toLowerCase() + message.slice(1)) || null }];
}

/** A field: its label (and hint) above the control. @param {HTMLElement} control @param {string} text @param {string} [hint] */
function field(control, text, hint) {
  if (!control.id) control.id = newId('f');
  let help = null;
  if (hint) {
    help = el('p', { class: 'hint', id: `${control.id}-hint` }, hint);
    control.setAttribute('aria-describedby', help.id);
  }
  return el('div', { class: 'field' }, el('label', { for: control.id }, text), help, control);
}

/** Words only a screen reader says (the rest of a repeated button's name). @param {string} text */
const hidden = (text) => el('span', { class: 'sr-only' }, text);

const LEVEL_MAX = 10;
const DAY_S = 24 * 3600;
const PRIORITY_LIMIT = 1_000_000;
const MAX_WAITING = 10_000_000;

/** Whole seconds as words: "45 seconds", "2 minutes", "1 hour", "1 min 30 s". @param {number} s */
function duration(s) {
  const plural = (n, w) => `${n} ${w}${n === 1 ? '' : 's'}`;
  if (s >= 3600 && s % 3600 === 0) return plural(s / 3600, 'hour');
  if (s >= 60 && s % 60 === 0) return plural(s / 60, 'minute');
  if (s < 60) return plural(s, 'second');
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** A whole number from text, or null. @param {string} text @param {boolean} [negative] */
function whole(text, negative = false) {
  const t = String(text).trim();
  return (negative ? /^-?\d+$/ : /^\d+$/).test(t) ? Number(t) : null;
}

const UK_TIME = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/London', dateStyle: 'medium', timeStyle: 'short' });
/** A moment as "8 Dec 2026, 14:05 UK time". @param {number} ms */
const ukTime = (ms) => `${UK_TIME.format(new Date(ms))} UK time`;

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
    if (!m) throw new Error(`Opening hours: "${line}" is not like "mon-fri 08:00-18:30"`);
    const days = [];
    for (const part of m[1].toLowerCase().split(',')) {
      const [from, to] = part.split('-');
      const i = DAYS.indexOf(from);
      const j = to === undefined ? i : DAYS.indexOf(to);
      if (i < 0 || j < 0 || j < i) throw new Error(`Opening hours: "${part}" is not a day or range of days (mon to sun)`);
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

/** The next free id in a list. @param {{ id: number }[]} items */
const nextId = (items) => items.reduce((m, x) => Math.max(m, x.id), 0) + 1;

/** What an overflow step can do, as the action picker says it. */
const ACTIONS = /** @type {const} */ ([
  ['relax_skill', 'Relax a skill to a lower level'],
  ['add_teams', 'Add teams'],
  ['any_team', 'Offer to any team'],
  ['offer_callback', 'Offer the caller a callback'],
  ['voicemail', 'Send to voicemail'],
  ['move_to_queue', 'Move to another queue'],
]);
/** An action's kind: "any_team", "relax_skill", ... @param {OverflowAction} a @returns {string} */
const kindOf = (a) => (typeof a === 'string' ? a : Object.keys(a)[0]);

const STRATEGIES = [
  ['longest_idle', 'The agent free the longest'],
  ['most_skilled', 'The most skilled agent (first skill needed), then the one free the longest'],
  ['least_occupied', 'The least busy agent, then the one free the longest'],
  ['round_robin', 'Each agent in turn'],
];

async function adminPage() {
  /** @type {Schema<'Config'>} */
  let config = null;
  /** Usernames to full names, for the change history. @type {Map<string, string>} */
  const people = new Map();

  /** @param {Named[]} list @param {number} id @param {string} kind */
  const nameOf = (list, id, kind) => list.find((x) => x.id === id)?.name ?? `${kind} ${id} (no longer defined)`;
  const skillName = (/** @type {number} */ id) => nameOf(config.skills, id, 'skill');
  const teamName = (/** @type {number} */ id) => nameOf(config.teams, id, 'team');
  const siteName = (/** @type {number} */ id) => nameOf(config.sites, id, 'site');
  const queueName = (/** @type {number} */ id) => nameOf(config.queues, id, 'queue');
  /** Options of a select, by name, `selected` chosen. @param {Named[]} list @param {number} [selected] */
  const options = (list, selected) => list.map((x) => el('option', { value: x.id, selected: x.id === selected }, x.name));

  async function loadConfig() {
    /** @type {Answer<Schema<'Config'>>} */
    const res = await api('GET', '/api/v1/config');
    if (res.ok) config = res.data;
    return res.ok;
  }

  /**
   * Skills with levels, a row each (a skill picker, a level picker and
   * Remove), "Add a skill" below.
   * @param {[number, number][]} pairs
   * @param {{ levelLabel: string, what: string }} opts the level's label; whose skills (for the messages)
   */
  function skillRows(pairs, { levelLabel, what }) {
    const list = el('ul', { class: 'skill-list' });
    const none = el('p', { class: 'hint' }, 'None.');
    const add = el('button', { type: 'button', class: 'secondary small' }, 'Add a skill');
    /** @type {{ li: HTMLLIElement, skill: HTMLSelectElement, level: HTMLSelectElement, remove: HTMLButtonElement }[]} */
    const rows = [];
    const refresh = () => {
      for (const r of rows) r.remove.lastElementChild.textContent = ` ${r.skill.selectedOptions[0]?.textContent ?? ''}`;
      none.hidden = rows.length > 0;
      add.hidden = rows.length >= config.skills.length;
    };
    /** @param {number} skill @param {number} level */
    const addRow = (skill, level) => {
      const known = config.skills.some((k) => k.id === skill);
      const pick = el('select', { class: 'skill-pick' }, options(config.skills, skill),
        known ? null : el('option', { value: skill, selected: true }, skillName(skill)));
      const levels = el('select', { class: 'level-pick' }, Array.from({ length: LEVEL_MAX }, (_, i) =>
        el('option', { value: i + 1, selected: i + 1 === level }, String(i + 1))));
      const remove = el('button', { type: 'button', class: 'secondary small' }, 'Remove', hidden(''));
      const li = el('li', { class: 'skill-row' }, field(pick, 'Skill'), field(levels, levelLabel), remove);
      const row = { li, skill: pick, level: levels, remove };
      pick.addEventListener('change', refresh);
      remove.addEventListener('click', () => {
        const i = rows.indexOf(row);
        rows.splice(i, 1);
        li.remove();
        refresh();
        (rows[i]?.skill || rows[i - 1]?.skill || add).focus();
        list.dispatchEvent(new Event('change', { bubbles: true }));
      });
      rows.push(row);
      list.append(li);
      return row;
    };
    add.addEventListener('click', () => {
      const used = new Set(rows.map((r) => Number(r.skill.value)));
      const free = config.skills.find((k) => !used.has(k.id)) || config.skills[0];
      const row = addRow(free.id, 1);
      refresh();
      row.skill.focus();
      list.dispatchEvent(new Event('change', { bubbles: true }));
    });
    for (const [s, l] of pairs) addRow(s, l);
    refresh();
    return {
      box: el('div', { class: 'skill-rows' }, none, list, add),
      rows,
      add,
      /** The pairs chosen, and what is wrong with them in plain words. */
      read() {
        /** @type {[number, number][]} */
        const out = [];
        /** @type {Problem[]} */
        const problems = [];
        const seen = new Set();
        for (const r of rows) {
          const s = Number(r.skill.value);
          if (seen.has(s)) problems.push({ field: r.skill, message: `${what}: ${skillName(s)} is chosen twice; choose each skill once` });
          seen.add(s);
          out.push([s, Number(r.level.value)]);
        }
        return { pairs: out, problems };
      },
    };
  }

  // ---- Queues ----

  /**
   * One queue as a form in its own <details> (closed: its name and what it
   * does in a line).
   * @param {Queue} q
   */
  function queueForm(q) {
    const p = `q${q.id}`;
    const facts = el('span', { class: 'queue-facts' });
    const summary = el('summary', {}, el('span', { class: 'queue-name' }, q.name), ' ', facts);
    const showFacts = () => {
      const n = q.overflow.length;
      facts.textContent = `priority ${q.priority}; ${q.target.percent}% answered within ${duration(q.target.within / 1000)}; `
        + `${n ? `${n} overflow step${n === 1 ? '' : 's'}` : 'no overflow steps'}`;
    };
    showFacts();

    const priority = el('input', { id: `${p}-priority`, value: q.priority, class: 'num', autocomplete: 'off' });
    const within = el('input', { id: `${p}-within`, value: q.target.within / 1000, class: 'num', inputmode: 'numeric', autocomplete: 'off' });
    const percent = el('input', { id: `${p}-percent`, value: q.target.percent, class: 'num', inputmode: 'numeric', autocomplete: 'off' });
    const reqs = skillRows(q.requirements.map((r) => [r.skill, r.min_level]), { levelLabel: 'Minimum level', what: 'Skills a contact needs' });
    const teamBoxes = config.teams.map((t) => el('input', { type: 'checkbox', id: `${p}-team-${t.id}`, value: t.id, checked: !!q.teams?.includes(t.id) }));
    const teamChecks = el('div', { class: 'checks' }, config.teams.map((t, i) => el('p', { class: 'check' }, teamBoxes[i], el('label', { class: 'inline', for: teamBoxes[i].id }, t.name))));

    // The overflow steps.
    const stepList = el('ol', { class: 'steps' });
    const noSteps = el('p', { class: 'hint' }, 'No overflow steps: contacts wait for the agents above.');
    const addStep = el('button', { type: 'button', class: 'secondary small' }, 'Add a step');
    /** @typedef {{ li: HTMLLIElement, legend: HTMLLegendElement, after: HTMLInputElement, action: HTMLSelectElement,
     *   skill: HTMLSelectElement, level: HTMLSelectElement, teams: HTMLInputElement[], queue: HTMLSelectElement,
     *   up: HTMLButtonElement, down: HTMLButtonElement, remove: HTMLButtonElement }} Step */
    /** @type {Step[]} */
    const steps = [];
    const others = config.queues.filter((x) => x.id !== q.id);
    const renumber = () => {
      steps.forEach((s, i) => {
        s.legend.textContent = `Step ${i + 1}`;
        for (const b of [s.up, s.down, s.remove]) b.lastElementChild.textContent = ` step ${i + 1}`;
        s.up.hidden = i === 0;
        s.down.hidden = i === steps.length - 1;
      });
      noSteps.hidden = steps.length > 0;
      addStep.hidden = steps.length >= config.limits.max_overflow_steps;
    };
    /** @param {OverflowStep} step @param {number} [at] where in the list (default: the end) */
    const stepRow = (step, at = steps.length) => {
      const id = newId(`${p}-step`);
      const a = step.action;
      const kind = kindOf(a);
      const relax = typeof a === 'object' && 'relax_skill' in a ? a.relax_skill : null;
      const adds = typeof a === 'object' && 'add_teams' in a ? a.add_teams : [];
      const moveTo = typeof a === 'object' && 'move_to_queue' in a ? a.move_to_queue : null;
      const legend = el('legend', {}, 'Step');
      const after = el('input', { id: `${id}-after`, value: step.after / 1000, class: 'num', inputmode: 'numeric', autocomplete: 'off' });
      const action = el('select', { id: `${id}-action` }, ACTIONS.map(([v, t]) => el('option', { value: v, selected: v === kind }, t)));
      const skill = el('select', { id: `${id}-skill` }, options(config.skills, relax?.skill ?? q.requirements[0]?.skill));
      const level = el('select', { id: `${id}-level` }, Array.from({ length: LEVEL_MAX }, (_, i) =>
        el('option', { value: i, selected: i === (relax ? relax.min_level : 0) }, i === 0 ? '0: any level (no longer needed)' : String(i))));
      const teams = config.teams.map((t) => el('input', { type: 'checkbox', id: `${id}-team-${t.id}`, value: t.id, checked: adds.includes(t.id) }));
      const queue = el('select', { id: `${id}-queue` }, options(others, moveTo));
      const relaxBox = el('div', { class: 'row step-extra' }, field(skill, 'Skill'), field(level, 'Down to level'));
      const teamsBox = el('fieldset', { class: 'step-extra' }, el('legend', {}, 'Teams to add'),
        el('div', { class: 'checks' }, config.teams.map((t, i) => el('p', { class: 'check' }, teams[i], el('label', { class: 'inline', for: teams[i].id }, t.name)))));
      const queueBox = el('div', { class: 'step-extra' }, field(queue, 'Queue to move to'));
      const show = () => {
        relaxBox.hidden = action.value !== 'relax_skill';
        teamsBox.hidden = action.value !== 'add_teams';
        queueBox.hidden = action.value !== 'move_to_queue';
      };
      action.addEventListener('change', show);
      show();
      const up = el('button', { type: 'button', class: 'secondary small' }, 'Move up', hidden(''));
      const down = el('button', { type: 'button', class: 'secondary small' }, 'Move down', hidden(''));
      const remove = el('button', { type: 'button', class: 'secondary small' }, 'Remove', hidden(''));
      const li = el('li', { class: 'step' }, el('fieldset', {}, legend,
        el('div', { class: 'row' }, field(after, 'After (seconds)'), field(action, 'Then')),
        relaxBox, teamsBox, queueBox, el('div', { class: 'row step-tools' }, up, down, remove)));
      /** @type {Step} */
      const s = { li, legend, after, action, skill, level, teams, queue, up, down, remove };
      /** @param {number} by -1: up, 1: down */
      const move = (by) => {
        const i = steps.indexOf(s);
        const j = i + by;
        steps.splice(i, 1);
        steps.splice(j, 0, s);
        if (by < 0) steps[j + 1].li.before(li); else steps[j - 1].li.after(li);
        renumber();
        const same = by < 0 ? up : down;
        (same.hidden ? (by < 0 ? down : up) : same).focus();
        form.dispatchEvent(new Event('change'));
      };
      up.addEventListener('click', () => move(-1));
      down.addEventListener('click', () => move(1));
      remove.addEventListener('click', () => {
        const i = steps.indexOf(s);
        steps.splice(i, 1);
        li.remove();
        renumber();
        (steps[i]?.after || steps[i - 1]?.after || addStep).focus();
        form.dispatchEvent(new Event('change'));
      });
      if (at >= steps.length) stepList.append(li); else steps[at].li.before(li);
      steps.splice(at, 0, s);
      return s;
    };
    addStep.addEventListener('click', () => {
      // A new step goes last, or just before a last step that ends the
      // waiting (voicemail, a move), which must stay last.
      const last = steps[steps.length - 1];
      const terminal = last && ['voicemail', 'move_to_queue'].includes(last.action.value);
      const at = terminal ? steps.length - 1 : steps.length;
      const prev = whole(steps[at - 1]?.after.value) ?? 0;
      const s = stepRow({ after: (prev + 60) * 1000, action: 'any_team' }, at);
      renumber();
      s.after.focus();
      form.dispatchEvent(new Event('change'));
    });
    for (const step of q.overflow) stepRow(step);
    renumber();

    // More settings, as they were unless changed.
    const strategy = el('select', { id: `${p}-strategy` }, STRATEGIES.map(([v, t]) => el('option', { value: v, selected: v === q.strategy }, t)));
    const offer = el('input', { id: `${p}-offer`, value: q.offer_timeout / 1000, class: 'num', inputmode: 'numeric', autocomplete: 'off' });
    const wrap = el('input', { id: `${p}-wrap`, value: q.wrap_up / 1000, class: 'num', inputmode: 'numeric', autocomplete: 'off' });
    const maxWaiting = el('input', { id: `${p}-max-waiting`, value: q.max_waiting, class: 'num', inputmode: 'numeric', autocomplete: 'off' });
    const fullTo = typeof q.when_full === 'object' ? q.when_full.queue : null;
    const whenFull = el('select', { id: `${p}-when-full` },
      el('option', { value: 'reject', selected: q.when_full === 'reject' }, 'Refuse the contact (a busy message)'),
      el('option', { value: 'voicemail', selected: q.when_full === 'voicemail' }, 'Send to voicemail'),
      others.map((x) => el('option', { value: `queue:${x.id}`, selected: x.id === fullTo }, `Send to ${x.name}`)));
    const agingEvery = el('input', { id: `${p}-aging-every`, value: q.aging ? q.aging.every / 1000 : '', class: 'num', inputmode: 'numeric', autocomplete: 'off' });
    const agingMax = el('input', { id: `${p}-aging-max`, value: q.aging ? q.aging.max_boost : '', class: 'num', inputmode: 'numeric', autocomplete: 'off' });
    const clinical = el('input', { type: 'checkbox', id: `${p}-clinical`, checked: q.clinical });
    const more = el('details', { class: 'admin-more' }, el('summary', {}, 'More settings: choosing an agent, timings, when full'),
      el('div', { class: 'row' }, field(strategy, 'Which agent gets the next contact')),
      el('div', { class: 'row' }, field(offer, 'Ring an agent for (seconds)'), field(wrap, 'Wrap-up time (seconds)'),
        field(maxWaiting, 'Most contacts waiting at once')),
      el('div', { class: 'row' }, field(whenFull, 'When that many are waiting')),
      el('div', { class: 'row' }, field(agingEvery, 'Raise priority by one every (seconds)', 'Empty: never.'), field(agingMax, 'By at most')),
      el('p', { class: 'check' }, clinical, el('label', { class: 'inline', for: clinical.id }, 'Answered by clinicians (counts as clinically assessed)')));

    const status = el('p', { class: 'saved', role: 'status' });
    const form = el('form', { class: 'admin-form queue-form', id: `${p}-form`, novalidate: true },
      el('div', { class: 'row' },
        field(priority, 'Priority', 'Higher is answered first; below 0 is allowed.'),
        field(within, 'Target: answered within (seconds)'),
        field(percent, 'Target: share answered in that time (%)')),
      el('fieldset', {}, el('legend', {}, 'Skills a contact needs'), reqs.box),
      el('fieldset', {}, el('legend', {}, 'Teams that answer'), el('p', { class: 'hint' }, 'None ticked: agents of any team.'), teamChecks),
      el('fieldset', {}, el('legend', {}, 'Overflow steps'),
        el('p', { class: 'hint' }, 'What happens, in order, while a contact waits, counted in seconds from when it joined the queue. '
          + 'Each step comes later than the one before; voicemail or a move to another queue can only be the last.'),
        noSteps, stepList, addStep),
      more,
      el('div', { class: 'row' }, el('button', { type: 'submit' }, `Save ${q.name}`)), status);
    const details = el('details', { class: 'queue', id: `queue-${q.id}`, dataset: { queue: q.id } }, summary, form);
    form.addEventListener('input', () => { details.dataset.dirty = '1'; });
    form.addEventListener('change', () => { details.dataset.dirty = '1'; });

    /** The queue as the form has it, and what is wrong in plain words. */
    const read = () => {
      /** @type {Problem[]} */
      const problems = [];
      const prio = whole(priority.value, true);
      if (prio === null) problems.push({ field: priority, message: 'Priority: enter a whole number, such as 10 or -5' });
      else if (Math.abs(prio) > PRIORITY_LIMIT) problems.push({ field: priority, message: 'Priority: at most 1,000,000 above or below 0' });
      const w = whole(within.value);
      if (w === null || w < 1 || w > DAY_S) problems.push({ field: within, message: 'Target: the time must be whole seconds, from 1 to 86400 (24 hours)' });
      const pc = whole(percent.value);
      if (pc === null || pc < 1 || pc > 100) problems.push({ field: percent, message: 'Target: the share must be a whole number from 1 to 100' });
      const needs = reqs.read();
      problems.push(...needs.problems);
      // The steps, in order.
      /** @type {OverflowStep[]} */
      const overflow = [];
      const levels = new Map(needs.pairs);
      /** @type {number | null} */
      let prev = null;
      steps.forEach((s, i) => {
        const n = i + 1;
        const secs = whole(s.after.value);
        if (secs === null || secs < 1) problems.push({ field: s.after, message: `Step ${n}: enter the time in whole seconds, such as 60` });
        else if (secs > DAY_S) problems.push({ field: s.after, message: `Step ${n}: the time must be at most 86400 seconds (24 hours)` });
        else if (prev !== null && secs <= prev) problems.push({ field: s.after, message: `Step ${n}: the time must be later than step ${n - 1}'s (${prev} seconds)` });
        prev = secs !== null && secs >= 1 && secs <= DAY_S ? secs : null;
        const kind = s.action.value;
        if (['voicemail', 'move_to_queue'].includes(kind) && n !== steps.length) {
          problems.push({ field: s.action, message: `Step ${n}: voicemail or a move to another queue must be the last step` });
        }
        /** @type {OverflowAction} */
        let action;
        if (kind === 'relax_skill') {
          const skill = Number(s.skill.value);
          const to = Number(s.level.value);
          const cur = levels.get(skill);
          if (cur === undefined) {
            problems.push({ field: s.skill, message: `Step ${n}: contacts of ${q.name} do not need ${skillName(skill)}, so it cannot be relaxed; choose a skill they need` });
          } else if (to >= cur) {
            problems.push({ field: s.level, message: `Step ${n}: ${skillName(skill)} is at level ${cur} by then; choose a lower level` });
          } else levels.set(skill, to);
          action = { relax_skill: { skill, min_level: to } };
        } else if (kind === 'add_teams') {
          const ids = s.teams.filter((c) => c.checked).map((c) => Number(c.value));
          if (!ids.length) problems.push({ field: s.teams[0], at: s.teams[0]?.closest('.checks'), message: `Step ${n}: tick at least one team to add` });
          action = { add_teams: ids };
        } else if (kind === 'move_to_queue') {
          if (!s.queue.value) problems.push({ field: s.action, message: `Step ${n}: there is no other queue to move to` });
          action = { move_to_queue: Number(s.queue.value) };
        } else action = /** @type {'any_team' | 'offer_callback' | 'voicemail'} */ (kind);
        overflow.push({ after: (secs ?? 0) * 1000, action });
      });
      const offerS = whole(offer.value);
      if (offerS === null || offerS < 1 || offerS > DAY_S) problems.push({ field: offer, message: 'Ring an agent for: whole seconds, from 1 to 86400' });
      const wrapS = whole(wrap.value);
      if (wrapS === null || wrapS > DAY_S) problems.push({ field: wrap, message: 'Wrap-up time: whole seconds, from 0 to 86400' });
      const most = whole(maxWaiting.value);
      if (most === null || most < 1 || most > MAX_WAITING) problems.push({ field: maxWaiting, message: 'Most contacts waiting: a whole number from 1 to 10,000,000' });
      const every = agingEvery.value.trim() ? whole(agingEvery.value) : 0;
      const boost = agingMax.value.trim() ? whole(agingMax.value) : 0;
      if (every === null) problems.push({ field: agingEvery, message: 'Raise priority: whole seconds, or empty for never' });
      if (every && (boost === null || boost > PRIORITY_LIMIT)) problems.push({ field: agingMax, message: 'Raise priority by at most: a whole number up to 1,000,000' });
      const teamIds = teamBoxes.filter((c) => c.checked).map((c) => Number(c.value));
      /** @type {Queue} */
      const def = {
        ...q, priority: prio, target: { within: (w ?? 0) * 1000, percent: pc },
        requirements: needs.pairs.map(([skill, min_level]) => ({ skill, min_level })),
        teams: teamIds.length ? teamIds : null, overflow, strategy: /** @type {Schema<'Strategy'>} */ (strategy.value),
        offer_timeout: (offerS ?? 0) * 1000, wrap_up: (wrapS ?? 0) * 1000, max_waiting: most,
        when_full: whenFull.value.startsWith('queue:') ? { queue: Number(whenFull.value.slice(6)) } : /** @type {'reject' | 'voicemail'} */ (whenFull.value),
        aging: every ? { every: every * 1000, max_boost: boost } : null, clinical: clinical.checked,
      };
      return { def, problems };
    };
    /** The field the server's reason names. @param {string} m */
    const where = (m) => {
      let n;
      if ((n = /^overflow step (\d+) \(after/.exec(m))) return steps[Number(n[1]) - 1]?.after;
      if ((n = /^overflow step (\d+)/.exec(m))) return steps[Number(n[1]) - 1]?.action;
      if (/^overflow moves contacts round/.test(m)) return steps[steps.length - 1]?.queue;
      if (/^overflow/.test(m)) return addStep;
      if (/^priority/.test(m)) return priority;
      if (/^target\.within/.test(m)) return within;
      if (/^target\.percent/.test(m)) return percent;
      if (/^offer_timeout/.test(m)) return offer;
      if (/^wrap_up/.test(m)) return wrap;
      if (/^max_waiting/.test(m)) return maxWaiting;
      if (/^when_full/.test(m)) return whenFull;
      if (/^aging/.test(m)) return agingEvery;
      if (/^(requirements|unknown skill)/.test(m)) return reqs.rows[0]?.skill || reqs.add;
      if (/^(teams|unknown team)/.test(m)) return teamBoxes[0];
      if (/^unknown queue/.test(m)) return steps.find((s) => s.action.value === 'move_to_queue')?.queue || whenFull;
      return null;
    };
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      status.textContent = '';
      const { def, problems } = read();
      if (problems.length) { showProblems(form, problems); return; }
      const res = await api('PUT', `/api/v1/queues/${q.id}`, def);
      if (!res.ok) {
        showProblems(form, refused(res, where, named));
      } else {
        showProblems(form, []);
        Object.assign(q, def);
        showFacts();
        delete details.dataset.dirty;
        status.textContent = 'Saved: in force now.';
      }
      history();
    });
    return details;
  }

  /** The queues, each a form; one with changes not yet saved is kept as it is. */
  function showQueues() {
    const list = $('#queue-list');
    /** @type {Map<string, HTMLDetailsElement>} */
    const was = new Map([...list.querySelectorAll(':scope > details.queue')].map((d) => [d.getAttribute('data-queue'), /** @type {HTMLDetailsElement} */ (d)]));
    list.replaceChildren(...config.queues.map((q) => {
      const old = was.get(String(q.id));
      if (old && old.dataset.dirty) return old;
      const d = queueForm(q);
      d.open = !!old?.open;
      return d;
    }));
  }

  // ---- Agents ----

  const agentForm = $('#agent-form');
  const agentStatus = $('#agent-status');
  /** The agent form's skills (made once the configuration is in). @type {ReturnType<typeof skillRows>} */
  let agentSkills = null;
  agentForm.addEventListener('input', () => { agentForm.dataset.dirty = '1'; });
  agentForm.addEventListener('change', (e) => { if (e.target !== $('#agent-pick')) agentForm.dataset.dirty = '1'; });

  /** Fills the agent form with the agent picked (or empty, for a new one). */
  function fillAgent() {
    const a = config.agents.find((x) => x.id === Number($('#agent-pick').value));
    $('#a-name').value = a ? a.name : '';
    $('#a-team').replaceChildren(...options(config.teams, a?.team));
    $('#a-site').replaceChildren(...options(config.sites, a?.site));
    agentSkills = skillRows(a ? a.skills : [], { levelLabel: 'Level', what: 'Skills' });
    $('#a-skills').replaceChildren(agentSkills.box);
    $('#agent-save').textContent = a ? `Save ${a.name}` : 'Add agent';
    showProblems(agentForm, []);
    delete agentForm.dataset.dirty;
  }
  $('#agent-pick').addEventListener('change', () => { agentStatus.textContent = ''; fillAgent(); });

  /**
   * The agents: the picker, the table, the user form's list; the form kept
   * if being changed.
   * @param {string} [chosen] the agent to pick (default: the one picked)
   */
  function showAgents(chosen = $('#agent-pick').value) {
    const pick = $('#agent-pick');
    const sorted = [...config.agents].sort((x, y) => x.name.localeCompare(y.name, 'en-GB'));
    pick.replaceChildren(el('option', { value: '' }, 'A new agent'),
      ...sorted.map((a) => el('option', { value: a.id, selected: String(a.id) === chosen }, `${a.name} (${teamName(a.team)})`)));
    if (!agentForm.dataset.dirty) fillAgent();
    $('#agent-rows').replaceChildren(...sorted.map((a) => el('tr', { dataset: { agent: a.id } },
      el('th', { scope: 'row' }, a.name), el('td', {}, teamName(a.team)), el('td', {}, siteName(a.site)),
      el('td', {}, a.skills.length ? a.skills.map(([s, l]) => `${skillName(s)} (${l})`).join(', ') : 'none'))));
    const uAgent = $('#u-agent');
    const was = uAgent.value;
    uAgent.replaceChildren(el('option', { value: '' }, 'Not an agent'), ...sorted.map((a) => el('option', { value: a.id, selected: String(a.id) === was }, a.name)));
  }

  agentForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    agentStatus.textContent = '';
    const a = config.agents.find((x) => x.id === Number($('#agent-pick').value));
    /** @type {Problem[]} */
    const problems = [];
    const name = $('#a-name').value.trim();
    if (!name) problems.push({ field: $('#a-name'), message: 'Name: enter the agent\'s name' });
    const skills = agentSkills.read();
    problems.push(...skills.problems);
    if (problems.length) { showProblems(agentForm, problems); return; }
    const id = a ? a.id : nextId(config.agents);
    /** @type {Agent} */
    const def = {
      ...(a || { capacity: { voice: 1, chat: 0, email: 0, sms: 0, voice_exclusive: true }, auto_answer: false }),
      id, name, team: Number($('#a-team').value), site: Number($('#a-site').value), skills: skills.pairs,
    };
    const res = await api('PUT', `/api/v1/agents/${id}`, def);
    if (!res.ok) {
      showProblems(agentForm, refused(res, (m) => {
        if (/^name/.test(m)) return $('#a-name');
        if (/^unknown team/.test(m)) return $('#a-team');
        if (/^unknown site/.test(m)) return $('#a-site');
        if (/^(skills|unknown skill)/.test(m)) return agentSkills.rows[0]?.skill || agentSkills.add;
        return null;
      }, named));
    } else {
      await loadConfig();
      delete agentForm.dataset.dirty;
      showAgents(String(id));
      agentStatus.textContent = a ? 'Saved: in force now.' : `Added ${name}: in force now.`;
    }
    history();
  });

  // ---- Teams, sites and skills ----

  function showNames() {
    for (const [sel, list] of /** @type {[string, Named[]][]} */ ([['#team-list', config.teams], ['#site-list', config.sites], ['#skill-list', config.skills]])) {
      $(sel).replaceChildren(...list.map((x) => el('li', {}, x.name)));
    }
    const sv = $('#sv-queue');
    const was = sv.value;
    sv.replaceChildren(...options(config.queues, Number(was)));
  }

  /** Everything the configuration names: after any change to it. */
  function showConfig() {
    showQueues();
    showAgents();
    showNames();
  }

  for (const [form, input, path, list, what] of /** @type {[string, string, string, 'teams' | 'sites' | 'skills', string][]} */ ([
    ['#team-form', '#t-name', '/api/v1/teams', 'teams', 'team'], ['#site-form', '#s-name', '/api/v1/sites', 'sites', 'site'],
    ['#skill-form', '#k-name', '/api/v1/skills', 'skills', 'skill']])) {
    const f = $(form);
    const status = el('p', { class: 'saved', role: 'status' });
    f.append(status);
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      status.textContent = '';
      const name = $(input).value.trim();
      if (!name) { showProblems(f, [{ field: $(input), message: `New ${what}: enter its name` }]); return; }
      if (config[list].some((x) => x.name.toLowerCase() === name.toLowerCase())) {
        showProblems(f, [{ field: $(input), message: `New ${what}: there is already a ${what} called ${name}` }]);
        return;
      }
      const res = await api('POST', path, { id: nextId(config[list]), name });
      if (!res.ok) showProblems(f, refused(res, () => $(input)));
      else {
        showProblems(f, []);
        $(input).value = '';
        status.textContent = `Added ${name}.`;
        await loadConfig();
        showConfig();
      }
      history();
    });
  }

  // ---- Users ----

  const userStatus = $('#user-status');
  async function usersTable() {
    /** @type {Answer<Schema<'Users'>>} */
    const res = await api('GET', '/api/v1/users');
    if (!res.ok) { userStatus.textContent = `The users cannot be shown: ${errorOf(res)}`; return; }
    for (const u of res.data.users) people.set(u.username, u.display_name);
    $('#user-rows').replaceChildren(...res.data.users.map((u) => el('tr', {},
      el('td', {}, u.username, u.demo ? ' (demo)' : ''), el('td', {}, u.display_name), el('td', {}, label(u.role)),
      el('td', {}, u.agent === null || u.agent === undefined ? '' : nameOf(config?.agents ?? [], u.agent, 'agent')),
      el('td', {}, u.disabled ? 'Disabled' : 'Active'),
      el('td', {}, el('button', { type: 'button', class: 'secondary small', onclick: async () => {
        const r = await api('POST', `/api/v1/users/${u.id}/${u.disabled ? 'enable' : 'disable'}`);
        userStatus.textContent = r.ok ? `${u.username} ${u.disabled ? 'enabled' : 'disabled'}.` : `${u.username}: ${errorOf(r)}`;
        await usersTable();
        history();
      } }, u.disabled ? 'Enable' : 'Disable', hidden(` ${u.username}`))))));
  }

  const userForm = $('#user-form');
  userForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const agent = $('#u-agent').value;
    /** @type {Omit<Schema<'NewUser'>, 'agent'> & { agent?: number }} */
    const body = { username: $('#u-username').value.trim(), display_name: $('#u-name').value.trim(),
      role: $('#u-role').value, password: $('#u-password').value };
    if (agent) body.agent = Number(agent);
    const res = await api('POST', '/api/v1/users', body);
    if (!res.ok) {
      const fields = { username: '#u-username', display_name: '#u-name', role: '#u-role', agent: '#u-agent', password: '#u-password' };
      showProblems(userForm, [{ message: errorOf(res), field: $(fields[/^([a-z_]+):/.exec(errorOf(res))?.[1]] || '#no-field') }]);
    } else {
      showProblems(userForm, []);
      userStatus.textContent = `Added ${body.username}.`;
      userForm.reset();
      await usersTable();
    }
    history();
  });

  // ---- Services ----

  /** @type {Schema<'Service'>[]} */
  let services = [];
  async function servicesTable() {
    /** @type {Answer<Schema<'Services'>>} */
    const res = await api('GET', '/api/v1/services');
    if (!res.ok) return;
    services = res.data.services;
    $('#service-rows').replaceChildren(...services.map((s) => el('tr', { dataset: { service: s.id } },
      el('td', {}, `${s.id}: ${s.service.name}`), el('td', {}, queueName(s.service.queue)),
      el('td', {}, s.service.entry_points.map((e) => `${e.kind} ${e.address}`).join(', ')),
      el('td', {}, `${s.open_now ? 'open' : 'closed'} (${showHours(s.service.hours)})`))));
    if (!services.length) $('#service-rows').append(el('tr', {}, el('td', { colspan: 4 }, 'No services yet.')));
    if (!$('#sv-id').value) $('#sv-id').value = nextId(services);
  }

  const serviceForm = $('#service-form');
  serviceForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    $('#service-status').textContent = '';
    /** @type {Problem[]} */
    const problems = [];
    const id = $('#sv-id').value.trim();
    if (!/^\d+$/.test(id)) problems.push({ field: $('#sv-id'), message: 'Service number: enter digits only, such as 105' });
    const name = $('#sv-name').value.trim();
    if (!name) problems.push({ field: $('#sv-name'), message: 'Name: enter the service\'s name' });
    /** @type {{ kind: string, address: string }[]} */
    const entry_points = [];
    for (const line of $('#sv-entry').value.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const [kind, ...rest] = line.split(/\s+/);
      if (!['phone', 'email', 'chat', 'web'].includes(kind) || !rest.length) {
        problems.push({ field: $('#sv-entry'), message: `Entry points: "${line}" is not like "phone 01622 000 002"` });
        break;
      }
      entry_points.push({ kind, address: rest.join(' ') });
    }
    /** @type {{ name: string, queue: number, entry_points: { kind: string, address: string }[], hours?: object }} */
    const body = { name, queue: Number($('#sv-queue').value), entry_points };
    try {
      const weekly = parseHours($('#sv-hours').value);
      const holidays = $('#sv-holidays').value.split('\n').map((l) => l.trim()).filter(Boolean);
      if (weekly.length || holidays.length) body.hours = { weekly, bank_holidays: holidays };
    } catch (err) { problems.push({ field: $('#sv-hours'), message: err.message }); }
    if (problems.length) { showProblems(serviceForm, problems); return; }
    const res = await api('PUT', `/api/v1/services/${id}`, body);
    if (!res.ok) {
      const fields = { id: '#sv-id', name: '#sv-name', queue: '#sv-queue', entry_points: '#sv-entry', hours: '#sv-hours' };
      showProblems(serviceForm, [{ message: errorOf(res), field: $(fields[/^([a-z_]+)/.exec(errorOf(res))?.[1]] || '#no-field') }]);
    } else {
      showProblems(serviceForm, []);
      $('#service-status').textContent = `Saved ${name}.`;
      serviceForm.reset();
      await servicesTable();
    }
    history();
  });

  // ---- Quick replies: a title and a text a row; saved as a whole ----

  const quickForm = $('#quick-form');
  /** @param {Schema<'QuickReply'>} [r] */
  const quickRow = (r = { title: '', text: '' }) => {
    const n = document.querySelectorAll('.quick-row').length + 1;
    const row = el('div', { class: 'row quick-row' },
      el('div', {}, el('label', { for: `qr-title-${n}` }, `Title ${n}`), el('input', { id: `qr-title-${n}`, class: 'qr-title', maxlength: 60, value: r.title })),
      el('div', {}, el('label', { for: `qr-text-${n}` }, `Text ${n}`), el('textarea', { id: `qr-text-${n}`, class: 'qr-text', rows: 2, cols: 50, maxlength: 1000 }, r.text)),
      el('button', { type: 'button', class: 'secondary small', onclick: () => { row.remove(); $('#quick-add').focus(); } }, 'Remove', hidden(` reply ${n}`)));
    $('#quick-rows').append(row);
    return row;
  };
  $('#quick-add').addEventListener('click', () => quickRow().querySelector('input').focus());
  quickForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const rows = [...document.querySelectorAll('.quick-row')].filter((row) => $('.qr-title', row).value.trim() || $('.qr-text', row).value.trim());
    const replies = rows.map((row) => ({ title: $('.qr-title', row).value, text: $('.qr-text', row).value }));
    const res = await api('PUT', '/api/v1/quick-replies', { replies });
    if (!res.ok) {
      const m = /^replies\[(\d+)\]\.(title|text)/.exec(errorOf(res));
      const at = m && rows[Number(m[1])];
      showProblems(quickForm, [{ message: errorOf(res), field: at ? $(m[2] === 'title' ? '.qr-title' : '.qr-text', at) : null }]);
      $('#quick-status').textContent = '';
    } else {
      showProblems(quickForm, []);
      $('#quick-status').textContent = `Saved ${res.data.saved} quick replies.`;
    }
    history();
  });

  // ---- Change history ----

  /** @type {Schema<'AuditRecord'>[]} */
  let changes = [];
  let shown = 15;
  /** Ids as names: "queue q2 'Wheelchairs'" and "queue q2" → "queue Wheelchairs". @param {string} text */
  const named = (text) => text
    .replace(/\b(queue|agent) [qa]?(\d+) '[^']*'/g, '$1 $2')
    .replace(/\b(queue|agent|team|site|skill) [qatsk]?(\d+)\b/g, (all, kind, id) => {
      const list = config && { queue: config.queues, agent: config.agents, team: config.teams, site: config.sites, skill: config.skills }[kind];
      const x = list?.find((/** @type {Named} */ y) => y.id === Number(id));
      return x ? `${kind} ${x.name}` : all;
    });
  /** Who: "user:4 (kent.admin)" → "Demo admin (kent.admin)". @param {string} actor */
  const who = (actor) => {
    const m = /^user:\d+ \((.*)\)$/.exec(actor);
    if (m) return people.has(m[1]) ? `${people.get(m[1])} (${m[1]})` : m[1];
    const t = /^token:\d+ \((.*)\)$/.exec(actor);
    return t ? `API token "${t[1]}"` : actor;
  };
  /** What, in words; a refused change says so, with the reason. @param {Schema<'AuditRecord'>} c */
  const what = (c) => {
    const subject = named(c.subject);
    let done = `${label(c.action)}: ${subject}`;
    let tried = `${c.action} ${subject}`;
    if (c.action === 'change configuration') {
      const m = /^(add|remove) (.*)$/.exec(subject);
      done = m ? `${m[1] === 'add' ? 'Added' : 'Removed'} ${m[2]}` : `Changed ${subject}`;
      tried = m ? `${m[1] === 'add' ? 'adding' : 'removing'} ${m[2]}` : `a change to ${subject}`;
    }
    if (c.outcome === 'ok') return done;
    const reason = named(c.outcome.replace(/^refused: /, '').replace(/^configuration refused: /, '')
      .replace(/^(queue|agent) [qa]?\d+ '[^']*': /, ''));
    return `Not saved: ${tried} (${reason})`;
  };
  function showHistory() {
    $('#history-rows').replaceChildren(...(changes.length ? changes.slice(0, shown).map((c) => el('li', {},
      el('p', { class: 'history-what' }, what(c)),
      el('p', { class: 'history-when' }, el('time', { datetime: new Date(c.at).toISOString() }, ukTime(c.at)), ', by ', who(c.actor))))
      : [el('li', {}, 'No changes recorded yet.')]));
    const more = $('#history-more');
    more.hidden = changes.length <= shown;
    more.textContent = `Show older changes (${changes.length - shown} more)`;
  }
  /** The change history, again (after every save). */
  async function history() {
    /** @type {Answer<Schema<'History'>>} */
    const res = await api('GET', '/api/v1/config/history');
    if (!res.ok) {
      $('#history-rows').replaceChildren(el('li', {}, `The change history cannot be shown: ${errorOf(res)}`));
      return;
    }
    changes = [...res.data.changes].sort((x, y) => y.at - x.at);
    showHistory();
  }
  $('#history-more').addEventListener('click', () => {
    shown += 15;
    showHistory();
    if ($('#history-more').hidden) $('#history-title').focus();
  });

  // ---- Start ----

  if (await loadConfig()) showConfig();
  else $('#queue-list').replaceChildren(el('p', { class: 'notice error' }, 'The configuration cannot be read; try again later.'));
  await Promise.all([usersTable(), servicesTable()]);
  await history();
  /** @type {Answer<Schema<'QuickReplies'>>} */
  const qr = await api('GET', '/api/v1/quick-replies');
  if (qr.ok) qr.data.replies.forEach((r) => quickRow(r));
  else {
    $('#quick-rows').replaceChildren(el('p', { class: 'notice' }, `The quick replies in use cannot be shown to this log-in (${errorOf(qr)}). `
      + 'Saving here replaces all of them with the ones listed.'));
  }
}

session.then((me) => { if (me) adminPage(); });
