//! The browser phone: the agent desktop is the agent's phone. Each agent
//! has at most one line; the desktop connects it with a WebRTC offer
//! (`POST /api/v1/me/phone`) and str0m answers as an ICE-lite endpoint
//! on the media address, with DTLS-SRTP and G.711 only, so the caller's
//! audio is relayed as it comes (A-law and µ-law are a table lookup
//! apart). A connected line is a phone like a registered SIP phone: the
//! engine offers real calls to its agent, a call rings it (the desktop
//! shows the offer) and the desktop's Accept answers it.
//!
//! The line outlives its WebRTC sessions: when the browser's network
//! changes it sends a new offer, the new session replaces the old one,
//! and a call on the line carries on (it is ended only if no session
//! comes back within [`GRACE`]). A session that never connects, goes
//! quiet or fails says why in the line's status.
//!
//! str0m is used only here, behind `Line`: the rest of the voice edge
//! sees a [`Sink`] (the agent's side of a bridge), media commands and
//! leg signals, as for a SIP phone.

use crate::media::{Command, Sink, FRAME};
use crate::record::Tap;
use crate::sip::Signal;
use model::ContactId;
use serde::Serialize;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::format::Codec as WebCodec;
use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use telephony::g711::{self, Codec};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// Largest SDP offer taken (a browser's audio offer is ~3 kB).
pub const MAX_OFFER: usize = 32 * 1024;
/// A session must connect (ICE and DTLS) within this, or it is dropped.
pub const CONNECT_WITHIN: Duration = Duration::from_secs(10);
/// A connected session that sends no audio for this long is gone (a
/// browser sends 50 packets a second, silence included, even muted).
pub const QUIET_AFTER: Duration = Duration::from_secs(10);
/// How long a call on a line waits for a lost session to come back.
pub const GRACE: Duration = Duration::from_secs(15);
/// Frames queued towards the browser before new ones are dropped.
const QUEUED: usize = 25;

/// Why a browser phone could not be connected.
#[derive(Debug)]
pub enum PhoneError {
    /// The offer is not usable SDP.
    BadOffer(String),
    /// The offer has no audio in a codec we relay.
    NoCodec,
    /// No media port could be opened.
    Network(String),
}

impl std::fmt::Display for PhoneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PhoneError::BadOffer(e) => write!(f, "the offer is not a usable WebRTC offer: {e}"),
            PhoneError::NoCodec => write!(
                f,
                "the offer has no audio in G.711 (PCMA or PCMU): the browser phone relays calls without transcoding, so it needs one of them"
            ),
            PhoneError::Network(e) => write!(f, "no media port could be opened: {e}"),
        }
    }
}

/// What the desktop shows of its phone.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LineStatus {
    /// `disconnected`, `connecting` or `connected`.
    pub state: &'static str,
    /// The codec negotiated: `PCMA` or `PCMU`.
    pub codec: Option<&'static str>,
    /// The contact ringing the phone now.
    pub ringing: Option<u64>,
    /// The contact on the line (answered).
    pub call: Option<u64>,
    /// Why the last session ended, if it failed.
    pub error: Option<String>,
    /// Audio packets from the browser and to it in this session.
    pub packets_in: u64,
    pub packets_out: u64,
}

/// One agent's browser phone.
pub(crate) struct Line {
    inner: Mutex<Inner>,
    /// Bumped whenever the status changes (the desktop waits on it).
    changed: watch::Sender<u64>,
    /// Told when the line comes up or goes down (the engine's endpoint).
    notify: Box<dyn Fn() + Send + Sync>,
}

#[derive(Default)]
struct Inner {
    session: Option<Session>,
    next: u64,
    /// Where the browser's audio goes (the caller's leg) while bridged.
    bridge: Option<Arc<dyn Sink>>,
    tap: Option<Tap>,
    ring: Option<Ring>,
    /// The call on the line and how to tell it the line is lost.
    call: Option<(u64, Option<ContactId>, mpsc::UnboundedSender<Signal>)>,
    error: Option<String>,
}

struct Session {
    id: u64,
    up: bool,
    codec: Codec,
    frames: mpsc::Sender<Arc<[u8]>>,
    stop: CancellationToken,
    packets_in: u64,
    packets_out: u64,
}

struct Ring {
    id: u64,
    contact: Option<ContactId>,
    answer: oneshot::Sender<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn crypto_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
}

/// The call-facing half of an answered browser leg.
pub(crate) struct Answered {
    pub(crate) call: u64,
    pub(crate) signals: mpsc::UnboundedReceiver<Signal>,
    pub(crate) cmd: mpsc::UnboundedSender<Command>,
}

impl Line {
    pub(crate) fn new(notify: Box<dyn Fn() + Send + Sync>) -> Arc<Line> {
        Arc::new(Line {
            inner: Mutex::default(),
            changed: watch::Sender::new(0),
            notify,
        })
    }

    fn touch(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Connected: a session is up (ICE and DTLS done).
    pub(crate) fn is_up(&self) -> bool {
        lock(&self.inner).session.as_ref().is_some_and(|s| s.up)
    }

    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub(crate) fn status(&self) -> LineStatus {
        let i = lock(&self.inner);
        let (state, codec, packets_in, packets_out) = match &i.session {
            None => ("disconnected", None, 0, 0),
            Some(s) => (
                if s.up { "connected" } else { "connecting" },
                s.up.then_some(match s.codec {
                    Codec::Pcma => "PCMA",
                    Codec::Pcmu => "PCMU",
                }),
                s.packets_in,
                s.packets_out,
            ),
        };
        LineStatus {
            state,
            codec,
            ringing: i.ring.as_ref().and_then(|r| r.contact).map(|c| c.0),
            call: i.call.as_ref().and_then(|c| c.1).map(|c| c.0),
            error: i.error.clone(),
            packets_in,
            packets_out,
        }
    }

    /// Takes the browser's offer: a new session (replacing any other) on
    /// a fresh UDP port of `ip`; answers the SDP answer.
    pub(crate) async fn offer(
        self: &Arc<Self>,
        ip: IpAddr,
        sdp: &str,
    ) -> Result<String, PhoneError> {
        crypto_once();
        if sdp.len() > MAX_OFFER {
            return Err(PhoneError::BadOffer(format!(
                "{} bytes, more than the {MAX_OFFER} taken",
                sdp.len()
            )));
        }
        let offer =
            SdpOffer::from_sdp_string(sdp).map_err(|e| PhoneError::BadOffer(e.to_string()))?;
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0))
            .await
            .map_err(|e| PhoneError::Network(e.to_string()))?;
        let local = socket
            .local_addr()
            .map_err(|e| PhoneError::Network(e.to_string()))?;
        let mut rtc = RtcConfig::new()
            .set_ice_lite(true)
            .clear_codecs()
            .enable_pcma(true, false)
            .enable_pcmu(true, false)
            .build(Instant::now());
        let candidate =
            Candidate::host(local, "udp").map_err(|e| PhoneError::Network(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| PhoneError::BadOffer(e.to_string()))?
            .to_sdp_string();
        let codec = answer_codec(&answer).ok_or(PhoneError::NoCodec)?;
        let (frames_tx, frames) = mpsc::channel(QUEUED);
        let stop = CancellationToken::new();
        let id = {
            let mut i = lock(&self.inner);
            i.next += 1;
            let id = i.next;
            if let Some(old) = i.session.replace(Session {
                id,
                up: false,
                codec,
                frames: frames_tx,
                stop: stop.clone(),
                packets_in: 0,
                packets_out: 0,
            }) {
                old.stop.cancel();
            }
            i.error = None;
            id
        };
        self.touch();
        (self.notify)();
        let session = Run {
            line: Arc::downgrade(self),
            id,
            rtc,
            socket,
            local,
            codec,
        };
        tokio::spawn(session.run(frames, stop));
        Ok(answer)
    }

    /// The desktop disconnected its phone (or logged out).
    pub(crate) fn disconnect(self: &Arc<Self>) {
        let old = lock(&self.inner).session.take();
        if let Some(s) = old {
            s.stop.cancel();
            self.lost(s.id, None);
        }
    }

    /// A session ended: if it is still the line's, the line is down (a
    /// ringing call is missed at once; a call on the line waits
    /// [`GRACE`] for a new session).
    fn lost(self: &Arc<Self>, id: u64, why: Option<String>) {
        let call = {
            let mut i = lock(&self.inner);
            if i.session.as_ref().is_some_and(|s| s.id == id) {
                i.session = None;
            }
            if i.session.is_none() {
                i.ring = None;
                if why.is_some() {
                    i.error = why;
                }
            }
            i.call.as_ref().map(|c| c.0)
        };
        self.touch();
        (self.notify)();
        let Some(call) = call else { return };
        let me = self.clone();
        tokio::spawn(async move {
            let mut changed = me.watch();
            let _ = tokio::time::timeout(GRACE, async {
                while !me.is_up() {
                    if changed.changed().await.is_err() {
                        return;
                    }
                }
            })
            .await;
            if me.is_up() {
                return;
            }
            let mut i = lock(&me.inner);
            if i.call.as_ref().is_some_and(|c| c.0 == call) {
                let (_, _, tx) = i.call.take().expect("checked");
                i.bridge = None;
                i.tap = None;
                let _ = tx.send(Signal::Ended("browser phone lost"));
            }
        });
    }

    /// Rings the line for `contact`: answered when the agent accepts on
    /// the desktop ([`Line::answer`]); "not answered" after `ring`,
    /// "cancelled" when `stop` fires.
    pub(crate) async fn ring(
        self: &Arc<Self>,
        contact: Option<ContactId>,
        ring: Duration,
        stop: CancellationToken,
    ) -> Result<Answered, String> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut i = lock(&self.inner);
            if !i.session.as_ref().is_some_and(|s| s.up) {
                return Err("the browser phone is not connected".into());
            }
            if i.call.is_some() {
                return Err("the browser phone is on another call".into());
            }
            i.next += 1;
            let id = i.next;
            i.ring = Some(Ring {
                id,
                contact,
                answer: tx,
            });
            id
        };
        self.touch();
        let r = tokio::select! {
            a = rx => a.map_err(|_| "the browser phone went away".to_string()),
            _ = tokio::time::sleep(ring) => Err("not answered".to_string()),
            _ = stop.cancelled() => Err("cancelled".to_string()),
        };
        let answered = {
            let mut i = lock(&self.inner);
            if i.ring.as_ref().is_some_and(|r| r.id == id) {
                i.ring = None;
            }
            match r {
                Ok(()) if i.call.is_none() => {
                    let (tx, signals) = mpsc::unbounded_channel();
                    i.call = Some((id, contact, tx));
                    Ok((id, signals))
                }
                Ok(()) => Err("the browser phone is on another call".to_string()),
                Err(e) => Err(e),
            }
        };
        self.touch();
        let (call, signals) = answered?;
        let (cmd, commands) = mpsc::unbounded_channel();
        tokio::spawn(commands_of(Arc::downgrade(self), call, commands));
        Ok(Answered { call, signals, cmd })
    }

    /// The agent accepted `contact` on the desktop: answers the line if
    /// it rings for it.
    pub(crate) fn answer(&self, contact: ContactId) -> bool {
        let ring = {
            let mut i = lock(&self.inner);
            match &i.ring {
                Some(r) if r.contact == Some(contact) => i.ring.take(),
                _ => None,
            }
        };
        match ring {
            Some(r) => r.answer.send(()).is_ok(),
            None => false,
        }
    }

    /// Whether the line is ringing for `contact`.
    pub(crate) fn rings_for(&self, contact: ContactId) -> bool {
        lock(&self.inner)
            .ring
            .as_ref()
            .is_some_and(|r| r.contact == Some(contact))
    }

    /// The call hung up the line (or let it go).
    pub(crate) fn hang_up(&self, call: u64) {
        {
            let mut i = lock(&self.inner);
            if i.call.as_ref().is_none_or(|c| c.0 != call) {
                return;
            }
            i.call = None;
            i.bridge = None;
            i.tap = None;
        }
        self.touch();
    }

    /// The agent keys digits to the caller (an interpreter service's
    /// menu, a switchboard): sent on the caller's leg as RFC 4733 events.
    pub(crate) fn send_keys(&self, keys: &str) -> Result<(), String> {
        let bridge = {
            let i = lock(&self.inner);
            if i.call.is_none() {
                return Err("there is no call on your phone".into());
            }
            i.bridge.clone()
        };
        let Some(b) = bridge else {
            return Err("the call is on hold: take it off hold to send keys".into());
        };
        for k in keys.chars() {
            if !b.send_key(k) {
                return Err(
                    "the caller's phone does not take keys (it offered no telephone-events), or too many are waiting"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// The caller's leg to send the browser's audio to, and the
    /// recording's tap for it.
    fn targets(&self) -> (Option<Arc<dyn Sink>>, Option<Tap>) {
        let i = lock(&self.inner);
        (i.bridge.clone(), i.tap.clone())
    }

    fn counted(&self, id: u64, inn: u64, out: u64) {
        if let Some(s) = lock(&self.inner).session.as_mut().filter(|s| s.id == id) {
            s.packets_in += inn;
            s.packets_out += out;
        }
    }
}

/// The agent's side of a bridge: the caller's audio, to the browser.
impl Sink for Line {
    fn send_audio(&self, payload: &[u8], from: Codec, buf: &mut Vec<u8>, _out: &mut Vec<u8>) {
        let i = lock(&self.inner);
        let Some(s) = i.session.as_ref().filter(|s| s.up) else {
            return;
        };
        g711::transcode(payload, from, s.codec, buf);
        // A full queue drops the frame: a slow browser never holds up
        // the caller's leg.
        let _ = s.frames.try_send(Arc::from(&buf[..]));
    }
}

/// Carries out the call's media commands on the line: bridge and tap;
/// while not bridged (the caller held, a callback's announcement), clips
/// or silence paced at 20 ms — without packets the browser would stretch
/// the caller's last words into a fading tone for a second or more.
async fn commands_of(line: Weak<Line>, call: u64, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut queue: VecDeque<(Arc<[u8]>, usize)> = VecDeque::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let (mut buf, mut out) = (Vec::with_capacity(FRAME), Vec::new());
    let mut frame = [g711::ALAW_SILENCE; FRAME];
    let mut bridged = false;
    loop {
        tokio::select! {
            c = commands.recv() => {
                let Some(c) = c else { break };
                let Some(l) = line.upgrade() else { break };
                let mut i = lock(&l.inner);
                if i.call.as_ref().is_none_or(|c| c.0 != call) {
                    continue;
                }
                match c {
                    Command::Bridge(b) => {
                        bridged = b.is_some();
                        i.bridge = b;
                    }
                    Command::Tap(t) => i.tap = t,
                    Command::Play { clip, .. } => queue.push_back((clip, 0)),
                    Command::Clear => queue.clear(),
                    Command::Music(_) | Command::Held(_) => {}
                }
            }
            _ = tick.tick(), if !bridged => {
                let mut filled = 0;
                while filled < FRAME {
                    let Some((clip, at)) = queue.front_mut() else { break };
                    let n = (clip.len() - *at).min(FRAME - filled);
                    frame[filled..filled + n].copy_from_slice(&clip[*at..*at + n]);
                    filled += n;
                    *at += n;
                    if *at >= clip.len() {
                        queue.pop_front();
                    }
                }
                frame[filled..].fill(g711::ALAW_SILENCE);
                let Some(l) = line.upgrade() else { break };
                l.send_audio(&frame, Codec::Pcma, &mut buf, &mut out);
            }
        }
    }
    if let Some(l) = line.upgrade() {
        l.hang_up(call);
    }
}

/// The codec of the answer's audio (the first G.711 format it keeps).
fn answer_codec(answer: &str) -> Option<Codec> {
    let mut audio = false;
    let mut first: Option<&str> = None;
    for l in answer.lines() {
        if let Some(m) = l.strip_prefix("m=") {
            audio = m.starts_with("audio ") && !m.starts_with("audio 0 ");
            first = audio.then(|| m.split(' ').nth(3)).flatten();
        } else if audio {
            if let Some(map) = l.strip_prefix("a=rtpmap:") {
                let (pt, name) = map.split_once(' ')?;
                if Some(pt) == first {
                    let name = name.to_ascii_uppercase();
                    if name.starts_with("PCMA/") {
                        return Some(Codec::Pcma);
                    }
                    if name.starts_with("PCMU/") {
                        return Some(Codec::Pcmu);
                    }
                }
            }
        }
    }
    None
}

/// One WebRTC session of a line.
struct Run {
    line: Weak<Line>,
    id: u64,
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    codec: Codec,
}

impl Run {
    async fn run(mut self, mut frames: mpsc::Receiver<Arc<[u8]>>, stop: CancellationToken) {
        let why = self.drive(&mut frames, &stop).await;
        self.rtc.disconnect();
        if let Some(l) = self.line.upgrade() {
            l.lost(self.id, why);
        }
    }

    /// Runs the session until it ends; answers why it failed (None: it
    /// was replaced or disconnected on purpose).
    async fn drive(
        &mut self,
        frames: &mut mpsc::Receiver<Arc<[u8]>>,
        stop: &CancellationToken,
    ) -> Option<String> {
        let started = Instant::now();
        let mut heard = Instant::now();
        let mut up = false;
        let mut send: Option<(Mid, Pt)> = None;
        let mut rtp_time: u64 = 0;
        let mut rx = vec![0u8; 2048];
        let (mut buf, mut out) = (Vec::with_capacity(FRAME), Vec::with_capacity(FRAME + 12));
        let (mut got, mut sent) = (0u64, 0u64);
        let mut counted = Instant::now();
        loop {
            // Everything str0m has to say, then when it next needs the clock.
            let next = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Transmit(t)) => {
                        let _ = self.socket.try_send_to(&t.contents, t.destination);
                    }
                    Ok(Output::Event(e)) => match e {
                        Event::Connected => {
                            up = true;
                            heard = Instant::now();
                            let l = self.line.upgrade()?;
                            if let Some(s) =
                                lock(&l.inner).session.as_mut().filter(|s| s.id == self.id)
                            {
                                s.up = true;
                            }
                            l.touch();
                            (l.notify)();
                        }
                        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                            return Some("the browser's network connection was lost".into());
                        }
                        Event::MediaAdded(m) => {
                            let want = match self.codec {
                                Codec::Pcma => WebCodec::PCMA,
                                Codec::Pcmu => WebCodec::PCMU,
                            };
                            let pt = self.rtc.writer(m.mid).and_then(|w| {
                                w.payload_params()
                                    .find(|p| p.spec().codec == want)
                                    .map(|p| p.pt())
                            });
                            send = pt.map(|pt| (m.mid, pt));
                        }
                        Event::MediaData(d) => {
                            heard = Instant::now();
                            got += 1;
                            let codec = match d.params.spec().codec {
                                WebCodec::PCMA => Codec::Pcma,
                                WebCodec::PCMU => Codec::Pcmu,
                                _ => continue,
                            };
                            let l = self.line.upgrade()?;
                            let (bridge, tap) = l.targets();
                            if let Some(b) = bridge {
                                b.send_audio(&d.data, codec, &mut buf, &mut out);
                            }
                            if let Some(t) = tap {
                                let decode = match codec {
                                    Codec::Pcma => g711::alaw_to_linear,
                                    Codec::Pcmu => g711::ulaw_to_linear,
                                };
                                let _ = t.try_send(d.data.iter().map(|&b| decode(b)).collect());
                            }
                        }
                        _ => {}
                    },
                    Err(e) => return Some(format!("WebRTC failed: {e}")),
                }
            };
            if !self.rtc.is_alive() {
                return Some("the browser closed the connection".into());
            }
            if !up && started.elapsed() > CONNECT_WITHIN {
                return Some(format!(
                    "the browser's connection (ICE and DTLS) did not complete within {} s: a firewall may block UDP to the media address",
                    CONNECT_WITHIN.as_secs()
                ));
            }
            if up && heard.elapsed() > QUIET_AFTER {
                return Some(format!(
                    "no audio from the browser for {} s",
                    QUIET_AFTER.as_secs()
                ));
            }
            if counted.elapsed() > Duration::from_millis(500) {
                if let Some(l) = self.line.upgrade() {
                    l.counted(self.id, got, sent);
                }
                (got, sent) = (0, 0);
                counted = Instant::now();
            }
            let wake = next.min(Instant::now() + Duration::from_millis(250));
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
                }
                r = self.socket.recv_from(&mut rx) => {
                    if let Ok((n, source)) = r {
                        if let Ok(contents) = rx[..n].try_into() {
                            let _ = self.rtc.handle_input(Input::Receive(
                                Instant::now(),
                                Receive { proto: Protocol::Udp, source, destination: self.local, contents },
                            ));
                        }
                    }
                }
                f = frames.recv() => {
                    let f = f?;
                    if let Some((mid, pt)) = send {
                        let samples = f.len() as u64;
                        if let Some(w) = self.rtc.writer(mid) {
                            let at = MediaTime::new(rtp_time, Frequency::EIGHT_KHZ);
                            if w.write(pt, Instant::now(), at, f).is_ok() {
                                sent += 1;
                            }
                        }
                        rtp_time += samples;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_says_which_g711_codec_was_kept() {
        let a = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n";
        assert_eq!(answer_codec(a), Some(Codec::Pcma));
        let u = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n";
        assert_eq!(answer_codec(u), Some(Codec::Pcmu));
        // Rejected (port 0) or not audio: no codec.
        let none = "v=0\r\nm=audio 0 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
        assert_eq!(answer_codec(none), None);
    }
}
