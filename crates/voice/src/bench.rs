//! For `benches/softphone.rs` only (not an API): one browser-phone
//! call's media path from the real parts — a caller's RTP leg
//! (`media::Port`), an agent's browser line (`line::Line`, str0m) and the
//! bridge between them, as `call.rs` makes it — without SIP or the
//! engine, so that many can be measured at once.

use crate::line::Line;
use crate::media::{Command, Port};
use model::ContactId;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use telephony::g711::Codec;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One call: the caller's leg and the agent's browser line, not yet
/// bridged.
pub struct Call {
    /// Where the caller sends its RTP (the server's port for the leg).
    pub caller_port: SocketAddr,
    line: Arc<Line>,
    caller: mpsc::UnboundedSender<Command>,
    sender: Arc<crate::media::Sender>,
    agent: Option<mpsc::UnboundedSender<Command>>,
    _events: mpsc::UnboundedReceiver<crate::media::Event>,
}

/// A caller at `caller` (A-law) and a browser line answering
/// `browser_offer` (SDP), both on `ip`; answers the call and the line's
/// SDP answer.
pub async fn call(
    ip: IpAddr,
    caller: SocketAddr,
    browser_offer: &str,
) -> Result<(Call, String), String> {
    let port = Port::bind(ip).await.map_err(|e| e.to_string())?;
    let caller_port = port.local;
    let limits = telephony::liveness::Limits {
        silence_ms: 60_000,
        unproven_ms: 60_000,
        ..Default::default()
    };
    let (cmd, events, sender) = port.start(caller, Codec::Pcma, None, 0x5eed_0001, None, limits);
    let line = Line::new(Box::new(|| {}));
    let answer = line
        .offer(ip, browser_offer)
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        Call {
            caller_port,
            line,
            caller: cmd,
            sender,
            agent: None,
            _events: events,
        },
        answer,
    ))
}

impl Call {
    /// Once the browser is connected: rings the line, answers it and
    /// bridges the two legs, as a call does.
    pub async fn bridge(&mut self, contact: u64) -> Result<(), String> {
        for _ in 0..1000 {
            if self.line.is_up() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let line = self.line.clone();
        let ring = tokio::spawn(async move {
            line.ring(
                Some(ContactId(contact)),
                Duration::from_secs(10),
                CancellationToken::new(),
            )
            .await
        });
        while !self.line.answer(ContactId(contact)) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let answered = ring.await.map_err(|e| e.to_string())??;
        let _ = answered
            .cmd
            .send(Command::Bridge(Some(self.sender.clone())));
        let _ = self.caller.send(Command::Bridge(Some(self.line.clone())));
        self.agent = Some(answered.cmd);
        Ok(())
    }
}
