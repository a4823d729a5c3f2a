// @ts-check
// The browser phone: the agent desktop is the agent's phone. The agent
// turns it on once ("Use this browser as my phone"; remembered in this
// browser); the page then connects a WebRTC peer connection to the server
// (G.711 only: the server relays calls without transcoding), reconnects
// by itself after a network change, and follows the phone's status (a
// call ringing it, a call on it, why it failed). A call that rings shows
// as an offer card with the ring tone; the card's Accept answers it, End
// hangs up, Hold holds (on the server). Mute, the microphone, the speaker
// and the level meter are this page's own.

import { session, $, el, api, errorOf } from '/ui.js';

/** @template {keyof import('/ui.js').Schemas} K @typedef {import('/ui.js').Schema<K>} Schema */
/** @template [T=any] @typedef {import('/ui.js').Answer<T>} Answer */

const REMEMBER = 'switchboard.browser-phone';
const RECONNECT_MS = 1000;

const phone = {
  on: false,
  pc: null,
  mic: null,
  micDevice: '',
  speakerDevice: '',
  muted: false,
  status: { state: 'disconnected' },
  version: null,
  audio: null,
  ctx: null,
  micAnalyser: null,
  farAnalyser: null,
  ringing: null,
  ringTimer: null,
  connecting: false,
};
// For the tests and for support: what the phone is doing.
window.softphone = phone;

function ui() {
  return {
    card: $('#phone'),
    toggle: $('#phone-toggle'),
    state: $('#phone-state'),
    mute: $('#phone-mute'),
    mic: $('#phone-mic'),
    speaker: $('#phone-speaker'),
    level: $('#phone-level'),
    error: $('#phone-error'),
  };
}

function describe() {
  const u = ui();
  const s = phone.status;
  let text;
  if (!phone.on) text = 'Off: real calls ring your desk phone if you have one.';
  else if (s.state === 'connected') {
    text = s.call ? `On a call (contact ${s.call}).` : s.ringing ? `Ringing: contact ${s.ringing}. Accept it below to answer.` : `Connected (${s.codec}): calls ring here.`;
  } else if (s.state === 'connecting' || phone.connecting) text = 'Connecting…';
  else text = 'Not connected: reconnecting…';
  u.state.textContent = text;
  u.state.className = `status ${s.state === 'connected' ? 'ready' : 'not_ready'}`;
  u.toggle.textContent = phone.on ? 'Stop using this browser as my phone' : 'Use this browser as my phone';
  u.toggle.setAttribute('aria-pressed', String(phone.on));
  u.mute.disabled = !phone.on;
  u.mute.textContent = phone.muted ? 'Unmute' : 'Mute';
  u.mute.setAttribute('aria-pressed', String(phone.muted));
  u.error.textContent = phone.on && s.error && s.state !== 'connected' ? `Last problem: ${s.error}` : '';
  // Keys go to the caller of a call on the phone.
  $('#phone-keys-form').hidden = !(phone.on && s.call);
}

/** The microphone, as chosen (or the default). */
async function openMic() {
  if (phone.mic) phone.mic.getTracks().forEach((t) => t.stop());
  const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  if (phone.micDevice) audio.deviceId = { exact: phone.micDevice };
  phone.mic = await navigator.mediaDevices.getUserMedia({ audio });
  phone.mic.getAudioTracks().forEach((t) => { t.enabled = !phone.muted; });
  const src = phone.ctx.createMediaStreamSource(phone.mic);
  phone.micAnalyser = phone.ctx.createAnalyser();
  phone.micAnalyser.fftSize = 2048;
  src.connect(phone.micAnalyser);
}

async function listDevices() {
  const u = ui();
  const all = await navigator.mediaDevices.enumerateDevices();
  const fill = (select, kind, chosen) => {
    const list = all.filter((d) => d.kind === kind);
    select.replaceChildren(el('option', { value: '' }, 'Default'),
      ...list.map((d, i) => el('option', { value: d.deviceId, selected: d.deviceId === chosen || null }, d.label || `${kind === 'audioinput' ? 'Microphone' : 'Speaker'} ${i + 1}`)));
  };
  fill(u.mic, 'audioinput', phone.micDevice);
  fill(u.speaker, 'audiooutput', phone.speakerDevice);
  u.speaker.disabled = !('setSinkId' in HTMLMediaElement.prototype);
}

/** A new peer connection: offer (once ICE gathering is done), the
 * server's answer; on failure or a lost network, another. */
async function connect() {
  if (!phone.on || phone.connecting) return;
  phone.connecting = true;
  describe();
  try {
    if (!phone.ctx) phone.ctx = new AudioContext();
    if (phone.ctx.state === 'suspended') phone.ctx.resume().catch(() => {});
    if (!phone.mic) await openMic();
    if (phone.pc) phone.pc.close();
    const pc = new RTCPeerConnection();
    phone.pc = pc;
    const track = phone.mic.getAudioTracks()[0];
    const tr = pc.addTransceiver(track, { direction: 'sendrecv', streams: [phone.mic] });
    const codecs = RTCRtpReceiver.getCapabilities('audio').codecs;
    const g711 = ['audio/pcma', 'audio/pcmu'].flatMap((m) => codecs.filter((c) => c.mimeType.toLowerCase() === m));
    if (tr.setCodecPreferences && g711.length) tr.setCodecPreferences(g711);
    pc.ontrack = (e) => {
      const stream = e.streams[0] || new MediaStream([e.track]);
      phone.audio.srcObject = stream;
      phone.audio.play().catch(() => {});
      const src = phone.ctx.createMediaStreamSource(stream);
      phone.farAnalyser = phone.ctx.createAnalyser();
      phone.farAnalyser.fftSize = 2048;
      phone.farAnalyser.smoothingTimeConstant = 0;
      src.connect(phone.farAnalyser);
    };
    pc.onconnectionstatechange = () => {
      if (pc !== phone.pc) return;
      if (pc.connectionState === 'failed' || pc.connectionState === 'disconnected') {
        setTimeout(() => { if (pc === phone.pc) connect(); }, RECONNECT_MS);
      }
    };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((done) => {
      if (pc.iceGatheringState === 'complete') return done();
      pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') done(); });
      setTimeout(done, 2000);
    });
    const res = await api('POST', '/api/v1/me/phone', { type: 'offer', sdp: pc.localDescription.sdp });
    if (!res.ok) throw new Error(errorOf(res));
    await pc.setRemoteDescription(res.data);
    listDevices().catch(() => {});
  } catch (e) {
    phone.status = { ...phone.status, state: 'disconnected', error: String(e.message || e) };
    ui().error.textContent = `The browser phone could not connect: ${e.message || e}`;
    phone.connecting = false;
    setTimeout(connect, 5 * RECONNECT_MS);
    return;
  }
  phone.connecting = false;
  describe();
}

async function turn(on) {
  phone.on = on;
  localStorage.setItem(REMEMBER, on ? 'on' : 'off');
  if (on) {
    await connect();
  } else {
    if (phone.pc) phone.pc.close();
    phone.pc = null;
    if (phone.mic) phone.mic.getTracks().forEach((t) => t.stop());
    phone.mic = null;
    await api('DELETE', '/api/v1/me/phone');
  }
  describe();
}

/** The ring tone (UK ring: 400+450 Hz, 0.4 s on, 0.2 off, 0.4 on, 2 s off)
 * while a call rings the phone. */
function ring(on) {
  if (!on) {
    clearInterval(phone.ringTimer);
    phone.ringTimer = null;
    return;
  }
  if (phone.ringTimer || !phone.ctx) return;
  const burst = () => {
    const t = phone.ctx.currentTime;
    for (const [start, stop] of [[0, 0.4], [0.6, 1.0]]) {
      for (const f of [400, 450]) {
        const o = phone.ctx.createOscillator();
        const g = phone.ctx.createGain();
        g.gain.value = 0.08;
        o.frequency.value = f;
        o.connect(g).connect(phone.ctx.destination);
        o.start(t + start);
        o.stop(t + stop);
      }
    }
  };
  burst();
  phone.ringTimer = setInterval(burst, 3000);
}

/** Follows the phone's status on the server (long poll). */
async function follow() {
  for (;;) {
    const q = phone.version === null ? '' : `?seen=${phone.version}`;
    /** @type {Answer<Schema<'PhoneStatus'>>} */
    const res = await api('GET', `/api/v1/me/phone${q}`);
    if (!res.ok) { await new Promise((r) => setTimeout(r, 3000)); continue; }
    phone.status = res.data;
    phone.version = res.data.version;
    ring(phone.on && !!res.data.ringing);
    describe();
    // The server lost us (its session failed or timed out) while we
    // think we are on: connect again.
    if (phone.on && res.data.state === 'disconnected' && !phone.connecting
        && (!phone.pc || phone.pc.connectionState !== 'connecting')) {
      setTimeout(connect, RECONNECT_MS);
    }
  }
}

/** The level meter: the microphone's loudness, ~10 times a second. */
function meter() {
  const buf = new Float32Array(2048);
  setInterval(() => {
    if (!phone.micAnalyser) { ui().level.value = 0; return; }
    phone.micAnalyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const v of buf) sum += v * v;
    const rms = Math.sqrt(sum / buf.length);
    ui().level.value = phone.muted ? 0 : Math.min(1, rms * 4);
  }, 100);
}

/** The strongest frequency the agent hears (Hz) and its level (dB): for
 * the tests. */
phone.far = () => {
  if (!phone.farAnalyser) return null;
  const a = phone.farAnalyser;
  const bins = new Float32Array(a.frequencyBinCount);
  a.getFloatFrequencyData(bins);
  let best = 1;
  for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  return { hz: Math.round((best * phone.ctx.sampleRate) / a.fftSize), db: Math.round(bins[best]) };
};

session.then((me) => {
  if (!me || me.agent === null || me.agent === undefined || !$('#phone')) return;
  const u = ui();
  u.card.hidden = false;
  phone.audio = $('#phone-audio');
  phone.on = localStorage.getItem(REMEMBER) === 'on';
  u.toggle.addEventListener('click', () => turn(!phone.on));
  u.mute.addEventListener('click', () => {
    phone.muted = !phone.muted;
    if (phone.mic) phone.mic.getAudioTracks().forEach((t) => { t.enabled = !phone.muted; });
    describe();
  });
  u.mic.addEventListener('change', async () => {
    phone.micDevice = u.mic.value;
    if (!phone.on) return;
    await openMic();
    const sender = phone.pc && phone.pc.getSenders().find((s) => s.track && s.track.kind === 'audio');
    if (sender) await sender.replaceTrack(phone.mic.getAudioTracks()[0]);
  });
  u.speaker.addEventListener('change', async () => {
    phone.speakerDevice = u.speaker.value;
    if (phone.audio.setSinkId) await phone.audio.setSinkId(phone.speakerDevice).catch((e) => { u.error.textContent = `Speaker: ${e.message}`; });
  });
  $('#phone-keys-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const keys = $('#phone-keys').value.replace(/\s+/g, '');
    const said = $('#phone-keys-said');
    /** @type {Answer<Schema<'KeysSent'>>} */
    const res = await api('POST', '/api/v1/me/phone/keys', { keys });
    said.textContent = res.ok ? `Sent ${res.data.sent} keys.` : errorOf(res);
    $('#phone-keys').setAttribute('aria-invalid', String(!res.ok));
    if (res.ok) $('#phone-keys').value = '';
  });
  navigator.mediaDevices?.addEventListener?.('devicechange', () => listDevices().catch(() => {}));
  // A network change: the browser goes online again; reconnect at once.
  window.addEventListener('online', () => { if (phone.on) connect(); });
  meter();
  describe();
  follow();
  if (phone.on) connect();
});
