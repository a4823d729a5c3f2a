//! Recording a call: the caller's leg and the agent's phone each hand
//! their decoded audio to the recorder through a small bounded channel
//! (`try_send`: a slow disk drops audio from the recording, never delays
//! the call); the recorder lines the two up on its own 20 ms clock,
//! caller left and agent right, and every second seals what it has
//! (`app::recording`) and appends it to the recording's file on the
//! blocking pool. The recording's row and wrapped key are stored before
//! any audio; the last chunk is sealed as the last when the recording
//! stops (a crash leaves a file that opens as "cut short").

use crate::media::FRAME;
use crate::Voice;
use app::recording::{self as rec, StreamSealer};
use model::{AgentId, ContactId, OrgId, Timestamp};
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Frames a side may be ahead of the other before the oldest is dropped.
const SLACK: usize = 10;
/// Frames waiting in a tap's channel.
const TAP_FRAMES: usize = 64;
/// Bytes of plain stereo PCM in one sealed chunk: one second.
const CHUNK: usize = rec::RATE as usize * 4;

/// Where a leg's audio goes while the call is recorded.
pub(crate) type Tap = mpsc::Sender<Vec<i16>>;

enum Ctl {
    Pause(bool),
}

/// A recording in progress; dropping it stops and finishes it.
pub(crate) struct Recorder {
    pub(crate) id: u64,
    ctl: mpsc::UnboundedSender<Ctl>,
    caller: Tap,
    agent: Tap,
}

impl Recorder {
    pub(crate) fn caller_tap(&self) -> Tap {
        self.caller.clone()
    }

    pub(crate) fn agent_tap(&self) -> Tap {
        self.agent.clone()
    }

    pub(crate) fn pause(&self, on: bool) {
        let _ = self.ctl.send(Ctl::Pause(on));
    }
}

/// Starts recording contact `contact` (with `agent` on the line), kept
/// for `retention_days`: the row and wrapped key first, then the file.
pub(crate) async fn start(
    voice: &Arc<Voice>,
    org: OrgId,
    contact: Option<ContactId>,
    agent: Option<AgentId>,
    retention_days: f64,
) -> Result<Recorder, String> {
    let id = voice.new_id();
    let aad = rec::aad(org.0, id);
    let data_key = app::auth::random_bytes::<32>();
    let started = app::wall_clock();
    let name = format!("{}/{id}.rec", org.0);
    let path = voice.recordings.join(&name);
    let row = store::recordings::RecordingRow {
        id,
        contact,
        agent,
        started,
        ended: None,
        bytes: 0,
        paused_ms: 0,
        expires: Timestamp(rec::expires_at(started.0, retention_days)),
        wrapped_key: Some(rec::wrap_key(&voice.app.kek, &aad, &data_key)),
        destroyed: None,
        file: name,
        hold: None,
    };
    // The file first (only its header), then the record with the key:
    // no record without a file; then audio.
    let file = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
            f.write_all(rec::MAGIC)?;
            Ok(f)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("the recording's file cannot be made: {e}"))?
    };
    let stored = voice
        .app
        .with_directory(move |d| d.add_recording(org, &row))
        .await;
    if !matches!(stored, Some(Ok(()))) {
        let _ = std::fs::remove_file(&path);
        return Err(match stored {
            Some(Err(e)) => format!("the recording's record was not stored: {e}"),
            _ => "the server is stopping".into(),
        });
    }
    let (ctl, ctl_rx) = mpsc::unbounded_channel();
    let (caller, caller_rx) = mpsc::channel(TAP_FRAMES);
    let (agent, agent_rx) = mpsc::channel(TAP_FRAMES);
    let sealer = StreamSealer::new(&data_key, &aad);
    let v = voice.clone();
    tokio::spawn(async move {
        let (bytes, paused_ms, error) = run(file, path, sealer, caller_rx, agent_rx, ctl_rx).await;
        if let Some(e) = error {
            tracing::error!("recording {id}: {e}");
        }
        let ended = app::wall_clock();
        let stored = v
            .app
            .with_directory(move |d| d.finish_recording(org, id, ended, bytes, paused_ms))
            .await;
        if !matches!(stored, Some(Ok(()))) {
            tracing::error!("recording {id}: its length was not stored");
        }
    });
    Ok(Recorder {
        id,
        ctl,
        caller,
        agent,
    })
}

/// The recorder's loop: answers the bytes written, the time paused and
/// the first write error, if any (writing stops there; the call does not).
async fn run(
    file: std::fs::File,
    path: PathBuf,
    mut sealer: StreamSealer,
    mut caller: mpsc::Receiver<Vec<i16>>,
    mut agent: mpsc::Receiver<Vec<i16>>,
    mut ctl: mpsc::UnboundedReceiver<Ctl>,
) -> (u64, i64, Option<String>) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut left: VecDeque<Vec<i16>> = VecDeque::new();
    let mut right: VecDeque<Vec<i16>> = VecDeque::new();
    let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut file = Some(file);
    let (mut bytes, mut paused_ms, mut paused) = (0u64, 0i64, false);
    let mut error = None;
    let push = |q: &mut VecDeque<Vec<i16>>, f: Vec<i16>| {
        q.push_back(f);
        if q.len() > SLACK {
            q.pop_front();
        }
    };
    loop {
        tokio::select! {
            c = ctl.recv() => match c {
                None => break,
                Some(Ctl::Pause(p)) => paused = p,
            },
            Some(f) = caller.recv() => push(&mut left, f),
            Some(f) = agent.recv() => push(&mut right, f),
            _ = tick.tick() => {
                let (l, r) = (left.pop_front(), right.pop_front());
                if paused {
                    paused_ms += 20;
                }
                for i in 0..FRAME {
                    let pick = |f: &Option<Vec<i16>>| {
                        if paused { 0 } else { f.as_ref().and_then(|f| f.get(i).copied()).unwrap_or(0) }
                    };
                    chunk.extend_from_slice(&pick(&l).to_le_bytes());
                    chunk.extend_from_slice(&pick(&r).to_le_bytes());
                }
                if chunk.len() >= CHUNK {
                    let sealed = sealer.seal(&chunk, false);
                    bytes += chunk.len() as u64;
                    chunk.clear();
                    append(&mut file, sealed, false, &mut error).await;
                }
            }
        }
    }
    let sealed = sealer.seal(&chunk, true);
    bytes += chunk.len() as u64;
    append(&mut file, sealed, true, &mut error).await;
    if error.is_some() {
        tracing::warn!("recording file {} is incomplete", path.display());
    }
    (bytes, paused_ms, error)
}

/// Appends sealed bytes on the blocking pool (synced when `last`); after
/// a failure nothing more is written.
async fn append(
    file: &mut Option<std::fs::File>,
    data: Vec<u8>,
    last: bool,
    error: &mut Option<String>,
) {
    let Some(mut f) = file.take() else { return };
    let r = tokio::task::spawn_blocking(move || {
        f.write_all(&data)?;
        if last {
            f.sync_all()?;
        }
        Ok::<_, std::io::Error>(f)
    })
    .await;
    match r {
        Ok(Ok(f)) => *file = Some(f),
        Ok(Err(e)) => *error = Some(format!("writing the recording failed: {e}")),
        Err(e) => *error = Some(format!("writing the recording failed: {e}")),
    }
}

/// Destroys the keys of recordings whose retention has run out, audits
/// each, and deletes their files; every few seconds while the edge runs.
pub(crate) async fn retention(voice: std::sync::Weak<Voice>) {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        every.tick().await;
        let Some(v) = voice.upgrade() else { return };
        let now = app::wall_clock();
        let destroyed = v
            .app
            .with_directory(move |d| {
                d.destroy_expired_recordings(now, 500, |org, id| {
                    app::system_record(
                        "destroy recording (retention)",
                        format!("recording {id}"),
                        Some(org),
                    )
                })
            })
            .await;
        match destroyed {
            Some(Ok(list)) => {
                for (_, id, file) in list {
                    let path = v.recordings.join(&file);
                    if let Err(e) = std::fs::remove_file(&path) {
                        if e.kind() != std::io::ErrorKind::NotFound {
                            tracing::warn!("recording {id}: key destroyed, file not deleted: {e}");
                        }
                    }
                }
            }
            Some(Err(e)) => tracing::error!("recordings past retention not destroyed: {e}"),
            None => return,
        }
    }
}
