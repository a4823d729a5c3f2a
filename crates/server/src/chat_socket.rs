//! Web chat: the patient's WebSocket (docs/chat.md, "The socket").

use crate::chat::{self, Chats, Conv, Signal, WireMessage};
use crate::chat_api::*;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::Extension;
use callctl::chat::ChatInput;
use serde::Deserialize;
use std::sync::Arc;

// --- the socket --------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Frame {
    Hello {
        token: String,
        #[serde(default)]
        after: u64,
    },
    Text {
        #[serde(default)]
        id: Option<String>,
        text: String,
    },
    Choose {
        #[serde(default)]
        id: Option<String>,
        key: String,
    },
    Typing,
    Read {
        seq: u64,
    },
    Leave,
}

fn frame_error(code: &str, message: &str) -> WsMessage {
    WsMessage::Text(
        serde_json::json!({"type": "error", "code": code, "message": message})
            .to_string()
            .into(),
    )
}

fn message_frame(w: &WireMessage) -> WsMessage {
    let mut v = serde_json::to_value(w).unwrap_or_default();
    v["type"] = "message".into();
    WsMessage::Text(v.to_string().into())
}

/// `GET /chat/v1/socket`: the patient's WebSocket (`docs/chat.md`).
pub(crate) async fn socket(
    Extension(chats): Extension<Arc<Chats>>,
    ws: WebSocketUpgrade,
) -> Response {
    // Small buffers: thousands of patients wait at once, mostly quiet.
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |s| patient(chats, s))
}

async fn patient(chats: Arc<Chats>, mut ws: WebSocket) {
    // The first frame says who: the token and the last number the page has.
    let hello = tokio::time::timeout(HELLO_WITHIN, ws.recv()).await;
    let (token, mut sent) = match hello {
        Ok(Some(Ok(WsMessage::Text(t)))) => match serde_json::from_str::<Frame>(&t) {
            Ok(Frame::Hello { token, after }) => (token, after),
            _ => {
                let _ = ws
                    .send(frame_error("bad_frame", "the first frame is a hello"))
                    .await;
                return;
            }
        },
        _ => return,
    };
    let hash = app::auth::secret_hash(&token);
    let Some(conv) = chats.by_token(&hash) else {
        // Over or unknown: an ended conversation's messages come from the
        // store, then the socket closes.
        let _ = ws
            .send(frame_error(
                "token",
                "no conversation in progress has this token",
            ))
            .await;
        let _ = ws.send(WsMessage::Close(None)).await;
        return;
    };
    {
        let mut s = conv.state.lock().unwrap_or_else(|p| p.into_inner());
        s.sockets += 1;
        if s.sockets == 1 {
            conv.tell(ChatInput::Connected(true));
        }
    }
    struct Gone(Arc<Conv>);
    impl Drop for Gone {
        fn drop(&mut self) {
            let mut s = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
            s.sockets = s.sockets.saturating_sub(1);
            if s.sockets == 0 {
                self.0.tell(ChatInput::Connected(false));
            }
        }
    }
    let _gone = Gone(conv.clone());
    let mut last = conv.last.clone();
    let mut signals = conv.signals.subscribe();
    loop {
        // Everything stored after what this page has, in order.
        let news = conv.after(sent, PAGE);
        for w in &news {
            if ws.send(message_frame(w)).await.is_err() {
                return;
            }
            sent = w.seq;
        }
        if news.len() == PAGE {
            continue;
        }
        let ended = conv.state.lock().map(|s| s.ended).unwrap_or(true);
        if ended && conv.after(sent, 1).is_empty() {
            let _ = ws.send(WsMessage::Close(None)).await;
            return;
        }
        tokio::select! {
            changed = last.changed() => {
                if changed.is_err() {
                    // The conversation's task is over: send what is left.
                    for w in conv.after(sent, usize::MAX) {
                        let _ = ws.send(message_frame(&w)).await;
                    }
                    let _ = ws.send(WsMessage::Close(None)).await;
                    return;
                }
            }
            s = signals.recv() => {
                let f = match s {
                    Ok(Signal::Ack { id, seq }) => serde_json::json!({"type": "ack", "id": id, "seq": seq}),
                    Ok(Signal::AgentTyping) => serde_json::json!({"type": "typing", "who": "agent"}),
                    Ok(Signal::Read { patient: false, seq }) => serde_json::json!({"type": "read", "seq": seq}),
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => continue,
                };
                if ws.send(WsMessage::Text(f.to_string().into())).await.is_err() {
                    return;
                }
            }
            m = ws.recv() => {
                let t = match m {
                    Some(Ok(WsMessage::Text(t))) => t,
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                if let Some(reply) = patient_frame(&conv, &t).await {
                    if ws.send(reply).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// One frame from the patient's page; an error frame if it is refused.
async fn patient_frame(conv: &Arc<Conv>, t: &str) -> Option<WsMessage> {
    let f = match serde_json::from_str::<Frame>(t) {
        Ok(f) => f,
        Err(e) => {
            return Some(frame_error(
                "bad_frame",
                &format!("not a frame of docs/chat.md: {e}"),
            ))
        }
    };
    let now = chat::now_ms();
    let input = match f {
        Frame::Hello { .. } => return Some(frame_error("bad_frame", "hello only once")),
        Frame::Typing => {
            conv.state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .patient_typing_at = Some(now);
            let _ = conv.signals.send(Signal::PatientTyping);
            conv.tell(ChatInput::Typing);
            return None;
        }
        Frame::Read { seq } => {
            let seq = {
                let mut s = conv.state.lock().unwrap_or_else(|p| p.into_inner());
                s.patient_read = s.patient_read.max(seq.min(*conv.last.borrow()));
                s.patient_read
            };
            let _ = conv.signals.send(Signal::Read { patient: true, seq });
            return None;
        }
        Frame::Leave => ChatInput::Leave,
        Frame::Text { id, text } => ChatInput::Text { id, text },
        Frame::Choose { id, key } => ChatInput::Choose { id, key },
    };
    if matches!(input, ChatInput::Text { .. } | ChatInput::Choose { .. })
        && !conv.flood_ok(true, now)
    {
        return Some(frame_error(
            "too_fast",
            &format!(
                "You are sending messages too quickly: at most {} in {} seconds.",
                chat::BURST,
                chat::BURST_MS / 1000
            ),
        ));
    }
    match conv.send(input).await {
        Ok(_) => None,
        Err(r) => Some(frame_error(r.code(), &r.message())),
    }
}
