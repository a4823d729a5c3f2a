// @ts-check
// The log-in page: username and password, then (if the role or the
// account asks for one) the second step: a code from an authenticator
// app (set up here the first time) or a passkey; then the page asked for
// (?next=) or the role's home page.

import { $, el, api, errorOf, toBytes, fromBytes, home } from '/ui.js';

/** @typedef {import('/ui.js').Schema<'LoggedIn'>} LoggedIn */
/** @template [T=any] @typedef {import('/ui.js').Answer<T>} Answer */

/** Goes where the log-in was asked from, else the role's home page (the
 * first the server lists for the session). @param {string} [_role] */
async function go(_role) {
  const next = new URLSearchParams(location.search).get('next');
  if (next && next.startsWith('/') && !next.startsWith('//')) { location.href = next; return; }
  location.href = '/' + ((await home()) || 'account');
}

/**
 * After a new authenticator is confirmed: its recovery codes, once.
 * @param {string[]} codes
 * @param {string} role
 */
function showRecovery(codes, role) {
  $('#mfa').hidden = true;
  const list = $('#recovery-codes');
  list.replaceChildren(...codes.map((c) => el('li', {}, el('code', {}, c))));
  $('#recovery').hidden = false;
  $('#recovery-done').addEventListener('click', () => go(role));
  $('#recovery-done').focus();
}

/**
 * Logs in with a passkey for the second step.
 * @param {string} ticket
 */
async function byPasskey(ticket) {
  /** @type {Answer<Schema<'RequestOptions'>>} */
  const o = await api('POST', '/api/v1/session/passkey/options', { ticket });
  if (!o.ok) { $('#mfa-error').textContent = errorOf(o); return; }
  /** @type {any} PublicKeyCredentialRequestOptions, in JSON */
  const pk = o.data.public_key;
  /** @type {PublicKeyCredential & { response: AuthenticatorAssertionResponse }} */
  let cred;
  try {
    cred = /** @type {any} */ (await navigator.credentials.get({ publicKey: {
      ...pk,
      challenge: toBytes(pk.challenge),
      allowCredentials: pk.allowCredentials.map((/** @type {any} */ c) => ({ ...c, id: toBytes(c.id) })),
    } }));
  } catch (x) {
    $('#mfa-error').textContent = `No passkey was used: ${x.message}`;
    return;
  }
  /** @type {Answer<LoggedIn>} */
  const r = await api('POST', '/api/v1/session/passkey', {
    ticket,
    id: fromBytes(cred.rawId),
    client_data_json: fromBytes(cred.response.clientDataJSON),
    authenticator_data: fromBytes(cred.response.authenticatorData),
    signature: fromBytes(cred.response.signature),
  });
  if (!r.ok) { $('#mfa-error').textContent = errorOf(r); return; }
  go(r.data.role);
}

/**
 * The second step: a code (setting the authenticator up first if the
 * role requires one and there is none yet), or a passkey.
 * @param {Answer<LoggedIn>} res
 */
async function secondStep(res) {
  const form = $('#login');
  const ticket = res.data.ticket;
  form.hidden = true;
  const mfa = $('#mfa');
  if (res.data.mfa === 'enrol') {
    /** @type {Answer<Schema<'Enrolment'>>} */
    const e = await api('POST', '/api/v1/session/mfa/enrol', { ticket });
    if (!e.ok) { form.hidden = false; $('#login-error').textContent = errorOf(e); return; }
    $('#mfa-secret').textContent = e.data.secret;
    $('#mfa-uri').textContent = e.data.uri;
    $('#mfa-enrol').hidden = false;
  }
  mfa.hidden = false;
  const methods = res.data.methods || [];
  const passkey = methods.includes('passkey') && window.PublicKeyCredential;
  if (res.data.mfa === 'code' && !methods.includes('totp')) $('#mfa-by-code').hidden = true;
  if (passkey) {
    const button = $('#mfa-passkey');
    button.hidden = false;
    button.addEventListener('click', () => byPasskey(ticket));
  }
  if ($('#mfa-by-code').hidden) $('#mfa-passkey').focus();
  else $('#mfa-code').focus();
  mfa.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const code = $('#mfa-code');
    /** @type {Answer<LoggedIn>} */
    const r = await api('POST', '/api/v1/session/mfa', { ticket, code: code.value.trim() });
    if (!r.ok) {
      $('#mfa-error').textContent = errorOf(r);
      code.setAttribute('aria-invalid', 'true');
      code.focus();
      return;
    }
    if (r.data.recovery_codes) showRecovery(r.data.recovery_codes, r.data.role);
    else go(r.data.role);
  });
}

function loginPage() {
  const form = $('#login');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    /** @type {Answer<LoggedIn>} */
    const res = await api('POST', '/api/v1/session', {
      username: $('#username').value.trim(),
      password: $('#password').value,
    });
    if (!res.ok) {
      $('#login-error').textContent = errorOf(res);
      return;
    }
    if (res.data.mfa) { secondStep(res); return; }
    go(res.data.role);
  });
  $('#username').focus();
}

/** @template {keyof import('/ui.js').Schemas} K @typedef {import('/ui.js').Schema<K>} Schema */

loginPage();
