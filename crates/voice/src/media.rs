//! Media: one task per call leg sends RTP every 20 ms (prompts,
//! announcements, hold music, or silence), receives the far end's RTP,
//! picks telephone-events out of it, and when bridged relays the far
//! end's audio into the other leg's stream (new SSRC, sequence and
//! timestamps; transcoded between A-law and µ-law if the legs differ).
//! Packets from any address but the negotiated one are dropped, except
//! telephone-events from the far end's host on another port (keys only).
//! A far end that never sends is sent to for a few seconds only, and a
//! leg whose far end goes quiet is reported dead ([`liveness`]).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use telephony::g711::{self, Codec};
use telephony::liveness::{self, Liveness};
use telephony::{dtmf, rtp};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Samples in one 20 ms packet at 8 kHz.
pub(crate) const FRAME: usize = 160;

pub(crate) enum Command {
    /// Appends a clip (A-law); `tag` comes back in `Finished` when it ends.
    Play { clip: Arc<[u8]>, tag: Option<u64> },
    /// Drops what is queued to play (a key barged in).
    Clear,
    /// Loops this clip whenever nothing else plays (None: silence).
    Music(Option<Arc<[u8]>>),
    /// Relays the far end's audio to this other leg (None: stop relaying).
    Bridge(Option<Arc<dyn Sink>>),
    /// The far end held (true) or resumed (false): it may be quiet longer.
    Held(bool),
    /// Hands the far end's audio, decoded, to a recording (None: stop).
    Tap(Option<crate::record::Tap>),
}

#[derive(Debug)]
pub(crate) enum Event {
    Finished(u64),
    Key(char),
    /// The far end's RTP came from another address (NAT); media follows it.
    Latched,
    /// Nothing came from the far end for longer than its limit: it is gone
    /// (sent once; the leg stops sending).
    Silent,
}

/// Where a bridged leg's audio goes: another leg's RTP stream, or an
/// agent's browser phone ([`crate::line`]).
pub(crate) trait Sink: Send + Sync {
    /// One frame of the far end's audio in `from`'s encoding; `buf` and
    /// `out` are scratch space the caller keeps.
    fn send_audio(&self, payload: &[u8], from: Codec, buf: &mut Vec<u8>, out: &mut Vec<u8>);
    /// Queues a key to send to the far end (RFC 4733); false if this leg
    /// cannot (the far end took no telephone-events) or too many wait.
    fn send_key(&self, _key: char) -> bool {
        false
    }
}

/// A leg's sending side, shared with the leg it is bridged to.
pub(crate) struct Sender {
    socket: Arc<UdpSocket>,
    remote: Mutex<SocketAddr>,
    codec: Codec,
    stream: Mutex<rtp::Stream>,
    /// The far end has not proven it is there (or died): send nothing.
    quiet: std::sync::atomic::AtomicBool,
    /// The far end's telephone-event payload type, if it takes keys.
    telephone_event: Option<u8>,
    /// Keys to send, and the timestamp of the event being sent: each
    /// event packet takes the place of an audio packet.
    keys: Mutex<(dtmf::KeySender, u32)>,
}

impl Sender {
    /// Sends this slot's key event packet instead of audio, if a key is
    /// being sent; answers whether it did.
    fn key_slot(&self, out: &mut Vec<u8>) -> bool {
        let Some(pt) = self.telephone_event else {
            return false;
        };
        let Ok(mut keys) = self.keys.lock() else {
            return false;
        };
        let Some(p) = keys.0.slot() else {
            return false;
        };
        let Ok(mut s) = self.stream.lock() else {
            return false;
        };
        if p.start {
            keys.1 = s.timestamp;
        }
        let packet = rtp::Packet {
            marker: p.start,
            payload_type: pt,
            sequence: s.sequence,
            timestamp: keys.1,
            ssrc: s.ssrc,
            payload: &p.payload,
        };
        rtp::write(out, &packet);
        s.sequence = s.sequence.wrapping_add(1);
        if p.last {
            s.timestamp = keys.1.wrapping_add(dtmf::EVENT_SAMPLES);
        }
        drop(s);
        let to = self.remote.lock().map(|r| *r);
        if let Ok(to) = to {
            let _ = self.socket.try_send_to(out, to);
        }
        true
    }
}

impl Sink for Sender {
    fn send_audio(&self, payload: &[u8], from: Codec, buf: &mut Vec<u8>, out: &mut Vec<u8>) {
        if self.quiet.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        if self.key_slot(out) {
            return;
        }
        g711::transcode(payload, from, self.codec, buf);
        let samples = buf.len() as u32;
        let pkt = match self.stream.lock() {
            Ok(mut s) => {
                let p = s.next(self.codec.payload_type(), buf, samples);
                rtp::write(out, &p);
                true
            }
            Err(_) => false,
        };
        if pkt {
            let to = self.remote.lock().map(|r| *r);
            if let Ok(to) = to {
                let _ = self.socket.try_send_to(out, to);
            }
        }
    }

    fn send_key(&self, key: char) -> bool {
        self.telephone_event.is_some() && self.keys.lock().is_ok_and(|mut k| k.0.push(key))
    }
}

/// A bound RTP port, before the far end is known.
pub(crate) struct Port {
    socket: Arc<UdpSocket>,
    pub(crate) local: SocketAddr,
}

impl Port {
    pub(crate) async fn bind(ip: IpAddr) -> std::io::Result<Port> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let local = socket.local_addr()?;
        Ok(Port {
            socket: Arc::new(socket),
            local,
        })
    }

    /// Starts the leg's media task towards `remote`.
    pub(crate) fn start(
        self,
        remote: SocketAddr,
        codec: Codec,
        telephone_event: Option<u8>,
        ssrc: u32,
        latch: Option<IpAddr>,
        limits: liveness::Limits,
    ) -> (
        mpsc::UnboundedSender<Command>,
        mpsc::UnboundedReceiver<Event>,
        Arc<Sender>,
    ) {
        let sender = Arc::new(Sender {
            socket: self.socket.clone(),
            remote: Mutex::new(remote),
            codec,
            stream: Mutex::new(rtp::Stream::new(
                ssrc,
                (ssrc >> 16) as u16,
                ssrc.rotate_left(7),
            )),
            quiet: std::sync::atomic::AtomicBool::new(false),
            telephone_event,
            keys: Mutex::default(),
        });
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        tokio::spawn(run(
            self.socket,
            sender.clone(),
            telephone_event,
            latch,
            limits,
            cmd_rx,
            ev_tx,
        ));
        (cmd_tx, ev_rx, sender)
    }
}

struct Playing {
    clip: Arc<[u8]>,
    at: usize,
    tag: Option<u64>,
}

async fn run(
    socket: Arc<UdpSocket>,
    me: Arc<Sender>,
    te: Option<u8>,
    mut latch: Option<IpAddr>,
    limits: liveness::Limits,
    mut cmds: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut queue: VecDeque<Playing> = VecDeque::new();
    let mut music: Option<(Arc<[u8]>, usize)> = None;
    let mut bridge: Option<Arc<dyn Sink>> = None;
    let mut keys = dtmf::Receiver::default();
    let started = tokio::time::Instant::now();
    let mut frame = [g711::ALAW_SILENCE; FRAME];
    let mut buf = Vec::with_capacity(FRAME);
    let mut out = Vec::with_capacity(FRAME + 12);
    let mut rx = vec![0u8; 2048];
    let ms = || started.elapsed().as_millis() as i64;
    let mut live = Liveness::new(0, limits);
    let mut silent = false;
    let mut tap: Option<crate::record::Tap> = None;
    loop {
        tokio::select! {
            c = cmds.recv() => match c {
                None => break,
                Some(Command::Play { clip, tag }) => queue.push_back(Playing { clip, at: 0, tag }),
                Some(Command::Clear) => queue.clear(),
                Some(Command::Music(m)) => music = m.map(|c| (c, 0)),
                Some(Command::Bridge(b)) => bridge = b,
                Some(Command::Held(h)) => live.held(h, ms()),
                Some(Command::Tap(t)) => tap = t,
            },
            _ = tick.tick() => {
                let now = ms();
                if !silent && live.gone(now) {
                    silent = true;
                    let _ = events.send(Event::Silent);
                }
                me.quiet.store(silent || !live.may_send(now), std::sync::atomic::Ordering::Relaxed);
                if bridge.is_some() {
                    continue;
                }
                // Fill one frame from the queue, then music, then silence.
                let mut filled = 0;
                while filled < FRAME {
                    let Some(p) = queue.front_mut() else { break };
                    let n = (p.clip.len() - p.at).min(FRAME - filled);
                    frame[filled..filled + n].copy_from_slice(&p.clip[p.at..p.at + n]);
                    filled += n;
                    p.at += n;
                    if p.at >= p.clip.len() {
                        if let Some(t) = p.tag {
                            let _ = events.send(Event::Finished(t));
                        }
                        queue.pop_front();
                    }
                }
                if filled < FRAME && queue.is_empty() {
                    if let Some((clip, at)) = music.as_mut() {
                        while filled < FRAME && !clip.is_empty() {
                            let n = (clip.len() - *at).min(FRAME - filled);
                            frame[filled..filled + n].copy_from_slice(&clip[*at..*at + n]);
                            filled += n;
                            *at = (*at + n) % clip.len();
                        }
                    }
                }
                frame[filled..].fill(g711::ALAW_SILENCE);
                me.send_audio(&frame, Codec::Pcma, &mut buf, &mut out);
            },
            r = socket.recv_from(&mut rx) => {
                let Ok((n, from)) = r else { continue };
                let expected = me.remote.lock().map(|r| *r).ok();
                // Keys only: telephone-events from the far end's host on
                // another port (SIPp's play_dtmf sends from one).
                let mut keys_only = false;
                if Some(from) != expected {
                    // Symmetric RTP for a phone behind NAT: its first packet
                    // from the address its signalling came from (not the
                    // private one in its SDP) becomes where we send. Any
                    // other address is dropped.
                    if latch == Some(from.ip()) && rtp::parse(&rx[..n]).is_ok() {
                        if let Ok(mut r) = me.remote.lock() {
                            *r = from;
                        }
                        latch = None;
                        let _ = events.send(Event::Latched);
                    } else if expected.is_some_and(|e| e.ip() == from.ip()) {
                        keys_only = true;
                    } else {
                        continue;
                    }
                }
                let Ok(p) = rtp::parse(&rx[..n]) else { continue };
                let audio = Codec::from_payload_type(p.payload_type);
                let event = (Some(p.payload_type) == te && p.payload.len() >= 4)
                    || (audio.is_none() && dtmf::looks_like_event(p.payload));
                if keys_only && !event {
                    continue;
                }
                live.heard(ms());
                if event {
                    let now = ms();
                    if let Some(k) = keys.receive(p.timestamp, p.payload, now) {
                        let _ = events.send(Event::Key(k));
                    }
                } else if let Some(codec) = audio {
                    if let Some(b) = bridge.as_ref() {
                        b.send_audio(p.payload, codec, &mut buf, &mut out);
                    }
                    if let Some(t) = tap.as_ref() {
                        let decode = match codec {
                            Codec::Pcma => g711::alaw_to_linear,
                            Codec::Pcmu => g711::ulaw_to_linear,
                        };
                        let frame = p.payload.iter().map(|&b| decode(b)).collect();
                        // A full channel drops the frame: the call is
                        // never held up by its recording.
                        if let Err(mpsc::error::TrySendError::Closed(_)) = t.try_send(frame) {
                            tap = None;
                        }
                    }
                }
            }
        }
    }
}
