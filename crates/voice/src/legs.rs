//! The agents' phones and the callers rung back: a dialled leg once
//! answered (`Answered`: its SIP leg, signals and media), how one is rung
//! (`dial_phone`), how a leg's media starts (`start_media`), and how a
//! leg's end is awaited. `call.rs` drives them.

use super::line::Line;
use super::media::{self, Command, Event as MediaEvent};
use super::sip::{Leg, Signal};
use super::{lock, CallLog, Phone, Voice};
use callctl::DialId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use telephony::sdp;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(crate) fn session_id() -> u64 {
    u64::from_le_bytes(app::auth::random_bytes::<8>()) >> 1
}

pub(crate) fn ssrc() -> u32 {
    u32::from_le_bytes(app::auth::random_bytes::<4>())
}

/// An answered outbound leg with its media running.
pub(crate) struct Answered {
    pub(crate) leg: AgentLeg,
    pub(crate) signals: mpsc::UnboundedReceiver<Signal>,
    pub(crate) cmd: mpsc::UnboundedSender<Command>,
    /// Where the other leg's audio goes once bridged.
    pub(crate) sender: Arc<dyn media::Sink>,
}

/// What an answered leg is: a SIP dialog, or an agent's browser phone.
pub(crate) enum AgentLeg {
    Sip(Leg),
    Browser { line: Arc<Line>, call: u64 },
}

impl AgentLeg {
    /// Hangs up (a browser phone is let go; the desktop shows the call
    /// ended).
    pub(crate) async fn hang_up(&self) {
        match self {
            AgentLeg::Sip(leg) => leg.hang_up().await,
            AgentLeg::Browser { line, call } => line.hang_up(*call),
        }
    }
}

/// Rings a phone: a browser phone shows the call on the desktop (for
/// `contact`); a SIP phone gets an offer from a fresh RTP port, and its
/// media latches onto the phone's real address if it is behind NAT
/// (noted in `log`).
pub(crate) async fn dial_phone(
    voice: &Voice,
    to: &Phone,
    contact: Option<model::ContactId>,
    from: &str,
    ring: Duration,
    log: Arc<Mutex<CallLog>>,
    stop: CancellationToken,
) -> Result<Answered, String> {
    let (uri, via) = match to {
        Phone::Sip { uri, via } => (uri, *via),
        Phone::Browser(line) => {
            let a = line.ring(contact, ring, stop).await?;
            return Ok(Answered {
                leg: AgentLeg::Browser {
                    line: line.clone(),
                    call: a.call,
                },
                signals: a.signals,
                cmd: a.cmd,
                sender: line.clone(),
            });
        }
    };
    let port = media::Port::bind(voice.edge().local.ip())
        .await
        .map_err(|e| e.to_string())?;
    let local = sdp::Local {
        address: port.local,
        session_id: session_id(),
        version: 1,
    };
    let (leg, answer, signals) = voice
        .edge()
        .dial(uri, from, sdp::offer(&local), ring, via, stop)
        .await?;
    let remote = match sdp::parse(&answer) {
        Ok(a) if a.codec.is_some() => a,
        _ => {
            leg.hang_up().await;
            return Err("the answer has no G.711 stream".into());
        }
    };
    let codec = remote.codec.expect("checked");
    let (cmd, events, sender) = start_media(voice, port, &remote, codec, via);
    Ok(Answered {
        leg: AgentLeg::Sip(leg),
        signals: merge(signals, events, cmd.downgrade(), log),
        cmd,
        sender,
    })
}

/// Starts a leg's media towards the address its SDP names; if the leg's
/// signalling came from another IP (`seen`: a phone behind NAT), media
/// latches onto RTP from there.
pub(crate) fn start_media(
    voice: &Voice,
    port: media::Port,
    remote: &sdp::Audio,
    codec: telephony::g711::Codec,
    seen: Option<std::net::SocketAddr>,
) -> (
    mpsc::UnboundedSender<Command>,
    mpsc::UnboundedReceiver<MediaEvent>,
    Arc<media::Sender>,
) {
    let latch = seen.map(|a| a.ip()).filter(|ip| *ip != remote.address.ip());
    port.start(
        remote.address,
        codec,
        remote.telephone_event,
        ssrc(),
        latch,
        voice.media,
    )
}

/// A dialled leg's signals with its media's news folded in: a phone gone
/// silent ends the leg like a BYE ("media timeout"); its holds reach its
/// media (a held phone may be quiet longer); NAT is noted in the log.
fn merge(
    mut sip: mpsc::UnboundedReceiver<Signal>,
    mut media: mpsc::UnboundedReceiver<MediaEvent>,
    cmd: mpsc::WeakUnboundedSender<Command>,
    log: Arc<Mutex<CallLog>>,
) -> mpsc::UnboundedReceiver<Signal> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut media_open = true;
        loop {
            tokio::select! {
                _ = tx.closed() => break,
                s = sip.recv() => match s {
                    None => break,
                    Some(s) => {
                        if let (Signal::Hold(h), Some(c)) = (&s, cmd.upgrade()) {
                            let _ = c.send(Command::Held(*h));
                        }
                        if tx.send(s).is_err() {
                            break;
                        }
                    }
                },
                e = media.recv(), if media_open => match e {
                    None => media_open = false,
                    Some(MediaEvent::Latched) => lock(&log).nat = true,
                    Some(MediaEvent::Silent) => {
                        let _ = tx.send(Signal::Ended("media timeout"));
                    }
                    Some(_) => {}
                },
            }
        }
    });
    rx
}

/// The bridged agent's phone hung up (or its signalling went away).
pub(crate) async fn agent_leg_ends(
    legs: &mut HashMap<DialId, Answered>,
    bridged: Option<DialId>,
) -> DialId {
    match bridged.and_then(|d| legs.get_mut(&d).map(|a| (d, a))) {
        Some((d, a)) => {
            while !matches!(a.signals.recv().await, None | Some(Signal::Ended(_))) {}
            d
        }
        None => std::future::pending().await,
    }
}

/// An answered phone hung up (or its signalling went away); never, for
/// no phone.
pub(crate) async fn leg_ends(a: Option<&mut Answered>) {
    match a {
        Some(a) => while !matches!(a.signals.recv().await, None | Some(Signal::Ended(_))) {},
        None => std::future::pending().await,
    }
}
