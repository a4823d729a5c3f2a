// @ts-check
// My log-in: the second step (an authenticator app, with its recovery
// codes) and passkeys. Every check is the server's; this page only shows
// and asks.

import { session, $, el, api, errorOf } from '/ui.js';
import { toBytes, fromBytes } from '/ui.js';

/** @template {keyof import('/ui.js').Schemas} K @typedef {import('/ui.js').Schema<K>} Schema */
/** @template [T=any] @typedef {import('/ui.js').Answer<T>} Answer */

async function showState() {
  /** @type {Answer<Schema<'MfaState'>>} */
  const s = await api('GET', '/api/v1/me/mfa');
  if (!s.ok) { $('#mfa-state').textContent = errorOf(s); return; }
  const { enabled, pending, recovery_codes_left: left, required } = s.data;
  $('#mfa-state').textContent = enabled
    ? `An authenticator app is set up; ${left} recovery codes left.`
    : (required ? 'Your organisation asks for a second step: set one up.' : 'No authenticator app is set up.');
  $('#totp-start').hidden = enabled || pending;
  if (pending && $('#totp-setup').hidden) $('#totp-start').hidden = false;
}

async function showPasskeys() {
  /** @type {Answer<Schema<'Passkeys'>>} */
  const r = await api('GET', '/api/v1/me/passkeys');
  const list = $('#pk-list');
  if (!r.ok) { list.replaceChildren(el('li', {}, errorOf(r))); return; }
  list.replaceChildren(...(r.data.passkeys.length
    ? r.data.passkeys.map((p) => el('li', {}, `${p.name} — added ${new Date(p.created).toLocaleString('en-GB', { timeZone: 'Europe/London' })}`))
    : [el('li', {}, 'None yet.')]));
}

async function startTotp() {
  /** @type {Answer<Schema<'Enrolment'>>} */
  const r = await api('POST', '/api/v1/me/mfa');
  if (!r.ok) { $('#mfa-state').textContent = errorOf(r); return; }
  $('#totp-secret').textContent = r.data.secret;
  $('#totp-uri').textContent = r.data.uri;
  $('#totp-setup').hidden = false;
  $('#totp-start').hidden = true;
  $('#totp-code').focus();
}

async function confirmTotp(e) {
  e.preventDefault();
  const code = $('#totp-code');
  /** @type {Answer<Schema<'Confirmed'>>} */
  const r = await api('POST', '/api/v1/me/mfa/confirm', { code: code.value.trim() });
  if (!r.ok) {
    $('#totp-error').textContent = errorOf(r);
    code.setAttribute('aria-invalid', 'true');
    code.focus();
    return;
  }
  $('#totp-setup').hidden = true;
  $('#my-recovery-codes').replaceChildren(...r.data.recovery_codes.map((c) => el('li', {}, el('code', {}, c))));
  $('#my-recovery').hidden = false;
  showState();
}

/** Creates a passkey in the browser and registers it. */
async function addPasskey(e) {
  e.preventDefault();
  const name = $('#pk-name');
  const err = $('#pk-error');
  err.textContent = '';
  if (!name.value.trim()) { err.textContent = 'name: give the passkey a name'; name.setAttribute('aria-invalid', 'true'); name.focus(); return; }
  if (!window.PublicKeyCredential) { err.textContent = 'This browser has no passkeys.'; return; }
  const o = await api('POST', '/api/v1/me/passkeys/options');
  if (!o.ok) { err.textContent = errorOf(o); return; }
  const pk = o.data.public_key;
  /** @type {PublicKeyCredential & { response: AuthenticatorAttestationResponse }} */
  let cred;
  try {
    cred = /** @type {any} */ (await navigator.credentials.create({ publicKey: {
      ...pk,
      challenge: toBytes(pk.challenge),
      user: { ...pk.user, id: toBytes(pk.user.id) },
      excludeCredentials: pk.excludeCredentials.map((c) => ({ ...c, id: toBytes(c.id) })),
    } }));
  } catch (x) {
    err.textContent = `The passkey was not made: ${x.message}`;
    return;
  }
  const r = await api('POST', '/api/v1/me/passkeys', {
    name: name.value.trim(),
    client_data_json: fromBytes(cred.response.clientDataJSON),
    attestation_object: fromBytes(cred.response.attestationObject),
  });
  if (!r.ok) { err.textContent = errorOf(r); return; }
  name.value = '';
  name.removeAttribute('aria-invalid');
  showPasskeys();
}

session.then((me) => {
  if (!me) return;
  $('#totp-start').addEventListener('click', startTotp);
  $('#totp-confirm').addEventListener('submit', confirmTotp);
  $('#pk-add').addEventListener('submit', addPasskey);
  showState();
  showPasskeys();
});
