//! The SIP signalling edge, over rsipstack (the only file that uses it):
//! UDP and TCP transports, transactions and dialogs are the crate's; this
//! file turns them into the project's own small interface — an inbound
//! call ([`Inbound`]), an outbound call ([`dial`]), a leg's signals
//! ([`Signal`]), and a registrar hook ([`Edge::serve`]'s `register`).

use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, HeadersExt, Method, StatusCode, Uri};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::TransportLayer;
use rsipstack::EndpointBuilder;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a leg tells its call.
#[derive(Debug)]
pub(crate) enum Signal {
    /// The far end acknowledged our answer (inbound) — media may flow.
    Confirmed,
    /// A key sent by SIP INFO.
    Key(char),
    /// The far end put us on hold (true) or took us off (false).
    Hold(bool),
    /// The leg ended: the far end hung up or cancelled, or it failed.
    Ended(&'static str),
}

/// A request to register a phone: who, from where, for how long.
pub(crate) struct RegisterRequest {
    pub authorization: Option<String>,
    /// Where it came from: the top Via's received= and rport= (which the
    /// stack fills in from the packet's source), else its sent-by.
    pub source: Option<SocketAddr>,
    /// The address of record's user part (the account's username).
    pub user: String,
    /// What the REGISTER asks of the phone's bindings.
    pub contact: Registration,
}

/// What a REGISTER asks (RFC 3261 §10.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Registration {
    /// No Contact: a query of the bindings.
    Query,
    /// Call the phone on this URI for this long (s; 0 removes it).
    Bind(String, u32),
    /// `Contact: *` with `Expires: 0`: remove every binding (§10.2.2).
    RemoveAll,
}

/// The Contact and Expires of a REGISTER read as a [`Registration`], or
/// why it is a bad request (§10.3 step 6: `*` only with `Expires: 0`).
pub(crate) fn registration(
    contact: Option<&str>,
    expires: Option<&str>,
) -> Result<Registration, &'static str> {
    let Some(c) = contact else {
        return Ok(Registration::Query);
    };
    if c.len() > MAX_FIELD {
        return Err("Contact too long");
    }
    let header_expires = expires.map(|e| e.trim().parse::<u32>().map_err(|_| "bad Expires"));
    if c.trim() == "*" {
        return match header_expires {
            Some(Ok(0)) => Ok(Registration::RemoveAll),
            _ => Err("Contact: * needs Expires: 0"),
        };
    }
    let uri = c
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map(|(u, _)| u.to_string())
        .unwrap_or_else(|| c.split(';').next().unwrap_or("").trim().to_string());
    let expires = match c.split(';').find_map(|p| p.trim().strip_prefix("expires=")) {
        Some(e) => e.trim().parse().map_err(|_| "bad expires parameter")?,
        None => header_expires.transpose()?.unwrap_or(3600),
    };
    Ok(Registration::Bind(uri, expires))
}

pub(crate) enum RegisterReply {
    /// 401 with this WWW-Authenticate value.
    Challenge(String),
    /// 200 with the granted lifetime.
    Ok(u32),
    Forbidden,
}

/// The voice module's side of the edge.
pub(crate) trait Handler: Send + Sync + 'static {
    fn register(&self, r: RegisterRequest) -> RegisterReply;
    fn invite(&self, call: Inbound);
}

/// The running endpoint.
#[derive(Clone)]
pub(crate) struct Edge {
    layer: Arc<DialogLayer>,
    /// Our Contact (sip:switchboard@ip:port).
    contact: Uri,
    pub(crate) local: SocketAddr,
    cancel: CancellationToken,
}

/// Longest a request URI user part or a header value we read may be.
const MAX_FIELD: usize = 256;

impl Edge {
    /// Binds UDP and TCP on `listen` and starts the endpoint.
    pub(crate) async fn start(
        listen: SocketAddr,
        handler: Arc<dyn Handler>,
    ) -> Result<Edge, String> {
        let cancel = CancellationToken::new();
        let transport = TransportLayer::new(cancel.child_token());
        let udp = UdpConnection::create_connection(listen, None, Some(cancel.child_token()))
            .await
            .map_err(|e| format!("SIP UDP {listen}: {e}"))?;
        let local = udp
            .get_addr()
            .addr
            .to_string()
            .parse::<SocketAddr>()
            .unwrap_or(listen);
        transport.add_transport(udp.into());
        let tcp = TcpListenerConnection::new(local, None)
            .await
            .map_err(|e| format!("SIP TCP {local}: {e}"))?;
        transport.add_transport(tcp.into());
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport)
            .with_user_agent("Switchboard")
            .build();
        let mut incoming = endpoint
            .incoming_transactions()
            .map_err(|e| format!("SIP endpoint: {e}"))?;
        let layer = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let contact = Uri::try_from(format!("sip:switchboard@{local}").as_str())
            .map_err(|e| format!("SIP contact: {e}"))?;
        let edge = Edge {
            layer: layer.clone(),
            contact,
            local,
            cancel,
        };
        tokio::spawn(async move { endpoint.serve().await });
        let e2 = edge.clone();
        tokio::spawn(async move {
            while let Some(tx) = incoming.recv().await {
                e2.dispatch(tx, &handler).await;
            }
        });
        Ok(edge)
    }

    pub(crate) fn stop(&self) {
        self.cancel.cancel();
    }

    async fn dispatch(&self, mut tx: Transaction, handler: &Arc<dyn Handler>) {
        let method = tx.original.method;
        let lengths: Vec<String> = tx
            .original
            .headers
            .iter()
            .filter(|h| {
                matches!(h, Header::ContentLength(_))
                    || h.name().eq_ignore_ascii_case("content-length")
                    || h.name().eq_ignore_ascii_case("l")
            })
            .map(|h| h.value().to_string())
            .collect();
        let cseq = tx.original.header_value("CSeq");
        if let Some((code, _why)) = refusal(&Wire {
            version: tx.original.version.to_string(),
            method: method.to_string(),
            cseq: cseq.as_deref(),
            lengths: &lengths.iter().map(String::as_str).collect::<Vec<_>>(),
            body: tx.original.body.len(),
        }) {
            // An ACK is never answered (§17.2.3).
            if method != Method::Ack {
                // The response is ours, in our version (the stack would
                // echo the request's).
                tx.original.version = rsipstack::sip::Version::V2;
                let _ = tx.reply(StatusCode::from(code)).await;
            }
            return;
        }
        let in_dialog = tx
            .original
            .to_header()
            .ok()
            .and_then(|t| t.tag().ok().flatten())
            .is_some();
        if in_dialog || !matches!(method, Method::Invite | Method::Register | Method::Options) {
            match self.layer.match_dialog(&tx) {
                Some(mut d) => {
                    tokio::spawn(async move {
                        let _ = d.handle(&mut tx).await;
                    });
                }
                None if method == Method::Ack => {}
                None if matches!(method, Method::Options) => {
                    let _ = tx.reply(StatusCode::OK).await;
                }
                None if matches!(
                    method,
                    Method::Bye | Method::Cancel | Method::Info | Method::Invite | Method::Update
                ) =>
                {
                    let _ = tx.reply(StatusCode::CallTransactionDoesNotExist).await;
                }
                None => {
                    let _ = tx.reply(StatusCode::MethodNotAllowed).await;
                }
            }
            return;
        }
        match method {
            Method::Options => {
                let allow = Header::Other(
                    "Allow".into(),
                    "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REGISTER".into(),
                );
                let _ = tx.reply_with(StatusCode::OK, vec![allow], None).await;
            }
            Method::Register => {
                let user = tx
                    .original
                    .to_header()
                    .ok()
                    .and_then(|t| t.uri().ok())
                    .and_then(|u| u.auth.map(|a| a.user))
                    .unwrap_or_default();
                let contact = match registration(
                    tx.original.header_value("Contact").as_deref(),
                    tx.original.header_value("Expires").as_deref(),
                ) {
                    Ok(c) => c,
                    Err(_) => {
                        let _ = tx.reply(StatusCode::BadRequest).await;
                        return;
                    }
                };
                let source = via_source(&tx.original.header_value("Via").unwrap_or_default());
                let r = RegisterRequest {
                    source,
                    authorization: tx.original.header_value("Authorization"),
                    user: user.chars().take(MAX_FIELD).collect(),
                    contact,
                };
                // The registrar reads and audits in SQLite: on the blocking
                // pool, not on the thread the media ticks share.
                let h = handler.clone();
                let reply = tokio::task::spawn_blocking(move || h.register(r))
                    .await
                    .unwrap_or(RegisterReply::Forbidden);
                match reply {
                    RegisterReply::Challenge(c) => {
                        let h = Header::Other("WWW-Authenticate".into(), c);
                        let _ = tx.reply_with(StatusCode::Unauthorized, vec![h], None).await;
                    }
                    RegisterReply::Ok(expires) => {
                        let mut headers =
                            vec![Header::Other("Expires".into(), expires.to_string())];
                        if let Some(c) = tx.original.header_value("Contact") {
                            if expires > 0 {
                                let c = c.split(";expires=").next().unwrap_or(&c).to_string();
                                headers.push(Header::Other(
                                    "Contact".into(),
                                    format!("{c};expires={expires}"),
                                ));
                            }
                        }
                        let _ = tx.reply_with(StatusCode::OK, headers, None).await;
                    }
                    RegisterReply::Forbidden => {
                        let _ = tx.reply(StatusCode::Forbidden).await;
                    }
                }
            }
            Method::Invite => {
                let ct = tx.original.header_value("Content-Type").unwrap_or_default();
                if !tx.original.body.is_empty()
                    && !ct.to_ascii_lowercase().starts_with("application/sdp")
                {
                    let _ = tx.reply(StatusCode::UnsupportedMediaType).await;
                    return;
                }
                let dialled = tx
                    .original
                    .uri
                    .auth
                    .as_ref()
                    .map(|a| a.user.chars().take(MAX_FIELD).collect::<String>())
                    .unwrap_or_default();
                let from_user = tx
                    .original
                    .from_header()
                    .ok()
                    .and_then(|f| f.uri().ok())
                    .and_then(|u| u.auth.map(|a| a.user))
                    .unwrap_or_default()
                    .chars()
                    .take(MAX_FIELD)
                    .collect();
                let caller_contact = tx.original.header_value("Contact").and_then(|c| {
                    c.split_once('<')
                        .and_then(|(_, r)| r.split_once('>'))
                        .map(|(u, _)| u.to_string())
                });
                let (state_tx, state_rx) = self.layer.new_dialog_state_channel();
                let dialog = match self.layer.get_or_create_server_invite(
                    &tx,
                    state_tx,
                    None,
                    Some(self.contact.clone()),
                ) {
                    Ok(d) => d,
                    Err(_) => {
                        let _ = tx.reply(StatusCode::BadRequest).await;
                        return;
                    }
                };
                let sdp = tx.original.body.clone();
                let source = via_source(&tx.original.header_value("Via").unwrap_or_default());
                let (sig_tx, sig_rx) = mpsc::unbounded_channel();
                let leg = Leg {
                    dialog: dialog.clone(),
                    layer: self.layer.clone(),
                    local_sdp: Arc::new(Mutex::new(None)),
                };
                tokio::spawn(watch(state_rx, sig_tx, leg.local_sdp.clone()));
                let mut d = dialog;
                tokio::spawn(async move {
                    let _ = d.handle(&mut tx).await;
                });
                handler.invite(Inbound {
                    source,
                    dialled,
                    from_user,
                    caller_contact,
                    sdp,
                    leg,
                    signals: sig_rx,
                });
            }
            _ => {}
        }
    }

    /// Calls `target` (a SIP URI: a registered phone, or a caller to ring
    /// back) with our SDP offer; answers the leg and the far end's SDP once
    /// answered, or the final status if refused, or None on `ring_for`
    /// with no answer (the attempt is cancelled).
    pub(crate) async fn dial(
        &self,
        target: &str,
        from_user: &str,
        offer: String,
        ring_for: Duration,
        destination: Option<SocketAddr>,
        stop: CancellationToken,
    ) -> Result<(Leg, Vec<u8>, mpsc::UnboundedReceiver<Signal>), String> {
        // The target may be a caller's number: it stays out of the error.
        let callee = Uri::try_from(target)
            .map_err(|_| "the address to ring is not a SIP URI".to_string())?;
        let caller = Uri::try_from(format!("sip:{from_user}@{}", self.local).as_str())
            .map_err(|e| format!("bad caller: {e}"))?;
        let (state_tx, state_rx) = self.layer.new_dialog_state_channel();
        let opt = InviteOption {
            caller,
            callee,
            contact: self.contact.clone(),
            content_type: Some("application/sdp".into()),
            offer: Some(offer.clone().into_bytes()),
            // A phone behind NAT is reached where its registration came
            // from, not at the private address in its Contact.
            destination: destination.map(|d| rsipstack::transport::SipAddr {
                r#type: Some(rsipstack::sip::Transport::Udp),
                addr: d.into(),
            }),
            ..Default::default()
        };
        let (dialog, handle) = self
            .layer
            .do_invite_async(opt, state_tx)
            .map_err(|e| format!("INVITE: {e}"))?;
        let (sig_tx, sig_rx) = mpsc::unbounded_channel();
        let local_sdp = Arc::new(Mutex::new(Some(offer)));
        tokio::spawn(watch(state_rx, sig_tx, local_sdp.clone()));
        let leg = Leg {
            dialog: dialog.clone(),
            layer: self.layer.clone(),
            local_sdp,
        };
        let mut handle = handle;
        let result = tokio::select! {
            r = &mut handle => r,
            _ = tokio::time::sleep(ring_for) => {
                let _ = dialog.cancel().await;
                return Err("no answer".into());
            }
            // The caller hung up, or the offer was taken back: the phone
            // stops ringing (CANCEL).
            _ = stop.cancelled() => {
                let _ = dialog.cancel().await;
                return Err("cancelled".into());
            }
        };
        match result {
            Ok(Ok((_, Some(resp)))) if resp.status_code.code() / 100 == 2 => {
                Ok((leg, resp.body.clone(), sig_rx))
            }
            Ok(Ok((_, Some(resp)))) => Err(format!("refused with {}", resp.status_code.code())),
            Ok(Ok((_, None))) => Err("no final answer".into()),
            Ok(Err(e)) => Err(format!("failed: {e}")),
            Err(e) => Err(format!("failed: {e}")),
        }
    }
}

/// What [`refusal`] reads of a request as it came off the wire.
pub(crate) struct Wire<'a> {
    /// The request line's version, e.g. `SIP/2.0`.
    pub version: String,
    pub method: String,
    /// The CSeq header's value, e.g. `1 INVITE`.
    pub cseq: Option<&'a str>,
    /// Every Content-Length header's value (the compact `l` too).
    pub lengths: &'a [&'a str],
    /// The body's length as received.
    pub body: usize,
}

/// Whether a request must be refused before anything reads it, with the
/// status and why (RFC 3261): a version other than SIP/2.0 is 505
/// (§21.5.7); a CSeq that is not a number and this request's own method
/// (§8.1.1.5, §20.16), more than one Content-Length, or one longer than
/// the body that came (§18.3, §20.14) is 400. The stack's parser reads
/// all of these leniently (the last Content-Length wins, a short body is
/// taken as it is), so they are checked here.
pub(crate) fn refusal(w: &Wire) -> Option<(u16, &'static str)> {
    if w.version != "SIP/2.0" {
        return Some((505, "SIP version not supported"));
    }
    let cseq_ok = w.cseq.is_some_and(|c| {
        let mut parts = c.split_whitespace();
        let seq_ok = parts
            .next()
            .is_some_and(|n| n.len() <= 10 && n.parse::<u32>().is_ok());
        seq_ok && parts.next() == Some(w.method.as_str()) && parts.next().is_none()
    });
    if !cseq_ok {
        return Some((400, "CSeq does not name this request's method"));
    }
    match w.lengths {
        [] => None,
        [one] => match one.trim().parse::<usize>() {
            Ok(n) if n <= w.body => None,
            Ok(_) => Some((400, "Content-Length longer than the body")),
            Err(_) => Some((400, "Content-Length is not a number")),
        },
        _ => Some((400, "more than one Content-Length")),
    }
}

/// The address a request came from, by its top Via: `received=` and
/// `rport=` (the stack fills them in from the packet's source), else the
/// sent-by host and port.
pub(crate) fn via_source(via: &str) -> Option<SocketAddr> {
    let first = via.split(',').next()?;
    let mut parts = first.split(';');
    let sent_by = parts.next()?.split_whitespace().nth(1)?;
    let (mut host, mut port) = match sent_by.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()?),
        None => (sent_by.to_string(), 5060u16),
    };
    for p in parts {
        let p = p.trim();
        if let Some(r) = p.strip_prefix("received=") {
            host = r.to_string();
        } else if let Some(r) = p.strip_prefix("rport=") {
            port = r.parse().ok()?;
        }
    }
    Some(SocketAddr::new(
        host.trim_matches(['[', ']']).parse().ok()?,
        port,
    ))
}

/// Turns a dialog's states into the leg's signals, answering INFO and
/// re-INVITE (with our current SDP) as they come.
async fn watch(
    mut rx: rsipstack::dialog::dialog::DialogStateReceiver,
    sig: mpsc::UnboundedSender<Signal>,
    local_sdp: Arc<Mutex<Option<String>>>,
) {
    while let Some(s) = rx.recv().await {
        match s {
            DialogState::Confirmed(..) => {
                let _ = sig.send(Signal::Confirmed);
            }
            DialogState::Info(_, req, handle) => {
                let ct = req.header_value("Content-Type").unwrap_or_default();
                let body = String::from_utf8_lossy(&req.body);
                let key = telephony::dtmf::key_from_info(&ct, &body);
                let status = if key.is_some() {
                    StatusCode::OK
                } else {
                    StatusCode::UnsupportedMediaType
                };
                let _ = handle.reply(status).await;
                if let Some(k) = key {
                    let _ = sig.send(Signal::Key(k));
                }
            }
            DialogState::Updated(_, req, handle) => {
                // A re-INVITE (hold, resume, a new address) or UPDATE.
                match telephony::sdp::parse(&req.body) {
                    Ok(audio) if audio.codec.is_some() => {
                        let ours = local_sdp.lock().ok().and_then(|g| g.clone());
                        let headers = vec![Header::ContentType("application/sdp".into())];
                        let _ = handle
                            .respond(StatusCode::OK, Some(headers), ours.map(String::into_bytes))
                            .await;
                        let _ = sig.send(Signal::Hold(audio.is_hold()));
                    }
                    _ if req.body.is_empty() => {
                        let ours = local_sdp.lock().ok().and_then(|g| g.clone());
                        let headers = vec![Header::ContentType("application/sdp".into())];
                        let _ = handle
                            .respond(StatusCode::OK, Some(headers), ours.map(String::into_bytes))
                            .await;
                    }
                    _ => {
                        let _ = handle.reply(StatusCode::NotAcceptableHere).await;
                    }
                }
            }
            DialogState::Options(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Message(_, _, handle)
            | DialogState::Notify(_, _, handle)
            | DialogState::Refer(_, _, handle)
            | DialogState::Publish(_, _, handle) => {
                let _ = handle.reply(StatusCode::NotImplemented).await;
            }
            DialogState::Terminated(_, reason) => {
                let why = match reason {
                    TerminatedReason::UacCancel => "cancelled",
                    TerminatedReason::UacBye | TerminatedReason::UasBye => "hung up",
                    TerminatedReason::Timeout => "timed out",
                    _ => "ended",
                };
                let _ = sig.send(Signal::Ended(why));
                break;
            }
            _ => {}
        }
    }
}

/// One SIP leg of a call.
#[derive(Clone)]
pub(crate) struct Leg {
    dialog: InviteDialog,
    layer: Arc<DialogLayer>,
    local_sdp: Arc<Mutex<Option<String>>>,
}

impl Leg {
    pub(crate) fn ring(&self) {
        let _ = self.dialog.ringing(None, None);
    }

    pub(crate) fn answer(&self, sdp: String) {
        if let Ok(mut g) = self.local_sdp.lock() {
            *g = Some(sdp.clone());
        }
        let headers = vec![Header::ContentType("application/sdp".into())];
        let _ = self.dialog.accept(Some(headers), Some(sdp.into_bytes()));
    }

    /// Refuses an unanswered inbound call.
    pub(crate) fn reject(&self, code: u16) {
        let status = StatusCode::from(code);
        let _ = self.dialog.reject(Some(status), None);
        self.layer.remove_dialog(&self.dialog.id());
    }

    /// Hangs up (BYE once answered; CANCEL or refusal before).
    pub(crate) async fn hang_up(&self) {
        let d = self.dialog.clone();
        match d.state() {
            DialogState::Confirmed(..) | DialogState::WaitAck(..) => {
                let _ = d.bye().await;
            }
            DialogState::Terminated(..) => {}
            _ => {
                if d.role() == rsipstack::transaction::key::TransactionRole::Server {
                    let _ = d.reject(Some(StatusCode::TemporarilyUnavailable), None);
                } else {
                    let _ = d.cancel().await;
                }
            }
        }
        self.layer.remove_dialog(&d.id());
    }
}

/// An inbound call, before it is answered.
pub(crate) struct Inbound {
    /// Where the INVITE came from (behind NAT: the public address).
    pub source: Option<SocketAddr>,
    /// The request URI's user part: the number dialled.
    pub dialled: String,
    /// The From user part: the caller's number, if a number.
    pub from_user: String,
    /// Where to ring the caller back (their Contact URI).
    pub caller_contact: Option<String>,
    pub sdp: Vec<u8>,
    pub leg: Leg,
    pub signals: mpsc::UnboundedReceiver<Signal>,
}

#[cfg(test)]
mod tests {
    use super::{refusal, registration, via_source, Registration, Wire};

    #[test]
    fn requests_rfc_3261_calls_bad_are_refused_before_they_are_read() {
        let check = |version: &str, method: &str, cseq: Option<&str>, lengths: &[&str], body| {
            refusal(&Wire {
                version: version.into(),
                method: method.into(),
                cseq,
                lengths,
                body,
            })
            .map(|(code, _)| code)
        };
        assert_eq!(
            check("SIP/2.0", "INVITE", Some("1 INVITE"), &["10"], 10),
            None
        );
        assert_eq!(
            check("SIP/2.0", "INVITE", Some("1 INVITE"), &["4"], 10),
            None
        );
        assert_eq!(
            check("SIP/2.0", "OPTIONS", Some(" 7  OPTIONS "), &[], 0),
            None
        );
        assert_eq!(
            check("SIP/3.0", "OPTIONS", Some("1 OPTIONS"), &[], 0),
            Some(505)
        );
        assert_eq!(
            check("SIP/2.0", "OPTIONS", Some("1 INVITE"), &[], 0),
            Some(400)
        );
        assert_eq!(
            check("SIP/2.0", "OPTIONS", Some("OPTIONS"), &[], 0),
            Some(400)
        );
        assert_eq!(
            check("SIP/2.0", "OPTIONS", Some("x OPTIONS"), &[], 0),
            Some(400)
        );
        assert_eq!(
            check("SIP/2.0", "OPTIONS", Some("1 OPTIONS x"), &[], 0),
            Some(400)
        );
        assert_eq!(check("SIP/2.0", "OPTIONS", None, &[], 0), Some(400));
        assert_eq!(
            check("SIP/2.0", "OPTIONS", Some("1 OPTIONS"), &["0", "0"], 0),
            Some(400)
        );
        assert_eq!(
            check("SIP/2.0", "OPTIONS", Some("1 OPTIONS"), &["11"], 10),
            Some(400)
        );
        assert_eq!(
            check("SIP/2.0", "OPTIONS", Some("1 OPTIONS"), &["-1"], 0),
            Some(400)
        );
    }

    #[test]
    fn a_register_binds_removes_one_removes_all_or_is_refused() {
        use Registration::*;
        let bind = |u: &str, e| Ok(Bind(u.to_string(), e));
        assert_eq!(registration(None, None), Ok(Query));
        assert_eq!(
            registration(Some("<sip:kent.agent@10.0.0.5:5062>;expires=120"), None),
            bind("sip:kent.agent@10.0.0.5:5062", 120)
        );
        assert_eq!(
            registration(Some("<sip:a@h>"), Some("60")),
            bind("sip:a@h", 60)
        );
        assert_eq!(registration(Some("sip:a@h"), None), bind("sip:a@h", 3600));
        assert_eq!(
            registration(Some("<sip:a@h>;expires=0"), Some("300")),
            bind("sip:a@h", 0)
        );
        // RFC 3261 §10.2.2: "*" removes every binding, only with Expires: 0.
        assert_eq!(registration(Some("*"), Some("0")), Ok(RemoveAll));
        assert_eq!(registration(Some(" * "), Some(" 0 ")), Ok(RemoveAll));
        assert!(registration(Some("*"), None).is_err());
        assert!(registration(Some("*"), Some("3600")).is_err());
        assert!(registration(Some("<sip:a@h>;expires=soon"), None).is_err());
        assert!(registration(Some("<sip:a@h>"), Some("later")).is_err());
        assert!(registration(Some(&"x".repeat(300)), None).is_err());
    }

    #[test]
    fn the_source_of_a_request_by_its_via() {
        let a = |s: &str| via_source(s).map(|x| x.to_string());
        assert_eq!(
            a("SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK1;received=203.0.113.7;rport=40123")
                .as_deref(),
            Some("203.0.113.7:40123")
        );
        assert_eq!(
            a("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1").as_deref(),
            Some("127.0.0.1:5070")
        );
        assert_eq!(
            a("SIP/2.0/TCP 192.0.2.1;branch=x").as_deref(),
            Some("192.0.2.1:5060")
        );
        assert_eq!(
            a("SIP/2.0/UDP [2001:db8::1]:5060;branch=x").as_deref(),
            Some("[2001:db8::1]:5060")
        );
        assert_eq!(a("garbage"), None);
        assert_eq!(a("SIP/2.0/UDP host.example:5060;branch=x"), None);
    }
}
