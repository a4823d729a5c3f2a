//! RFC 4733 telephone-events, received tolerantly: whatever payload type
//! was negotiated for them (a sender may use another, e.g. SIPp's 96), end
//! packets sent three times, the reserved bit set, events on a different
//! SSRC from the audio, and replayed captures whose timestamps repeat.
//! A key is reported once, on the first packet of its event.

/// The key an RFC 4733 event code stands for (0-9, *, #; A-D).
pub fn key(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// The key a SIP INFO body carries: `application/dtmf-relay`
/// (`Signal=5\r\nDuration=160`) or `application/dtmf` (`5`).
pub fn key_from_info(content_type: &str, body: &str) -> Option<char> {
    let ct = content_type.trim().to_ascii_lowercase();
    let signal = if ct.starts_with("application/dtmf-relay") {
        body.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
        })?
    } else if ct.starts_with("application/dtmf") {
        body.trim()
    } else {
        return None;
    };
    let mut chars = signal.chars();
    let c = chars.next()?.to_ascii_uppercase();
    if chars.next().is_some() {
        // "10" and "11" are * and # in some phones' relay bodies.
        return match signal {
            "10" => Some('*'),
            "11" => Some('#'),
            _ => None,
        };
    }
    matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
}

/// Is this payload a telephone-event by its content? Used when the
/// payload type is not the negotiated one: exactly one event (4 bytes), a
/// key's code (0-15), and a duration (an all-zero packet — comfort noise
/// or padding on another payload type — is not a press of 0).
pub fn looks_like_event(payload: &[u8]) -> bool {
    payload.len() == 4 && payload[0] <= 15 && u16::from_be_bytes([payload[2], payload[3]]) > 0
}

/// The receiver's memory of the last event.
#[derive(Debug, Default, Clone)]
pub struct Receiver {
    /// (RTP timestamp, event) of the event being received, and the
    /// arrival time (ms) of its last packet.
    last: Option<(u32, u8, i64)>,
}

/// How long after an event's last packet a packet with the same timestamp
/// counts as a new press (a replayed capture), not a retransmission.
pub const REPEAT_AFTER_MS: i64 = 400;

impl Receiver {
    /// Takes one telephone-event payload that arrived at `now_ms`; answers
    /// the key if it starts a new press.
    pub fn receive(&mut self, timestamp: u32, payload: &[u8], now_ms: i64) -> Option<char> {
        if payload.len() < 4 {
            return None;
        }
        let event = payload[0];
        let k = key(event)?;
        let fresh = match self.last {
            Some((ts, ev, at)) => ts != timestamp || ev != event || now_ms - at > REPEAT_AFTER_MS,
            None => true,
        };
        self.last = Some((timestamp, event, now_ms));
        fresh.then_some(k)
    }
}

/// The RFC 4733 event code of a key (0-9, *, #, A-D).
pub fn code(key: char) -> Option<u8> {
    match key.to_ascii_uppercase() {
        k @ '0'..='9' => Some(k as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        k @ 'A'..='D' => Some(k as u8 - b'A' + 12),
        _ => None,
    }
}

/// Packets of one key's event that carry its tone (100 ms), then the
/// end packets (sent three times, RFC 4733 §2.5.1.4).
pub const UPDATES: u8 = 5;
pub const ENDS: u8 = 3;
/// Audio slots between two keys (an inter-digit pause).
pub const GAP: u8 = 3;
/// Most keys waiting to be sent.
pub const MAX_QUEUED: usize = 64;

/// One 20 ms slot of a key's event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventPacket {
    pub payload: [u8; 4],
    /// The event's first packet (marker bit; the event's timestamp is
    /// the stream's now).
    pub start: bool,
    /// Its last packet: the stream's time moves on by the event's length.
    pub last: bool,
}

/// The samples (8 kHz) an event occupies from its start to its last
/// packet.
pub const EVENT_SAMPLES: u32 = (UPDATES as u32 + ENDS as u32) * 160;

/// Sends keys as RFC 4733 events, one 20 ms slot at a time: a stream
/// asks [`KeySender::slot`] before each audio packet and sends the event
/// packet instead when there is one. Pure: the caller owns the clock.
#[derive(Debug, Default, Clone)]
pub struct KeySender {
    queue: std::collections::VecDeque<u8>,
    /// The event being sent and how many of its packets went.
    current: Option<(u8, u8)>,
    gap: u8,
}

impl KeySender {
    /// Queues a key; false if it is not a key or too many wait.
    pub fn push(&mut self, key: char) -> bool {
        match code(key) {
            Some(c) if self.queue.len() < MAX_QUEUED => {
                self.queue.push_back(c);
                true
            }
            _ => false,
        }
    }

    /// Keys queued or being sent.
    pub fn busy(&self) -> bool {
        self.current.is_some() || !self.queue.is_empty()
    }

    /// This slot's event packet, or None: the slot is audio.
    pub fn slot(&mut self) -> Option<EventPacket> {
        if self.current.is_none() {
            if self.gap > 0 {
                self.gap -= 1;
                return None;
            }
            self.current = Some((self.queue.pop_front()?, 0));
        }
        let (event, sent) = self.current.as_mut()?;
        let i = *sent;
        *sent += 1;
        let end = i >= UPDATES;
        let duration = (u16::from(i.min(UPDATES - 1)) + 1) * 160;
        let d = duration.to_be_bytes();
        // Volume 10 (-10 dBm0), as phones send.
        let payload = [*event, if end { 0x80 } else { 0 } | 10, d[0], d[1]];
        let last = i + 1 == UPDATES + ENDS;
        let start = i == 0;
        if last {
            self.current = None;
            self.gap = GAP;
        }
        Some(EventPacket {
            payload,
            start,
            last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: u8, end: bool, dur: u16) -> [u8; 4] {
        let d = dur.to_be_bytes();
        // Reserved bit set, as SIPp's play_dtmf does.
        [code, if end { 0xC0 } else { 0x40 } | 10, d[0], d[1]]
    }

    #[test]
    fn one_key_per_press_whatever_the_repeats() {
        let mut r = Receiver::default();
        let mut got = Vec::new();
        let mut t = 0;
        for (ts, code, end) in [
            (1000, 1, false),
            (1000, 1, false),
            (1000, 1, true),
            (1000, 1, true),
            (1000, 1, true),
            (2600, 5, false),
            (2600, 5, true),
            (2600, 5, true),
            // The same digit again: a new timestamp.
            (4200, 5, false),
            (4200, 5, true),
        ] {
            t += 20;
            if let Some(k) = r.receive(ts, &ev(code, end, 160), t) {
                got.push(k);
            }
        }
        assert_eq!(got, vec!['1', '5', '5']);
        // A replayed capture: same timestamp and event, a second later.
        assert_eq!(r.receive(4200, &ev(5, false, 160), t + 1000), Some('5'));
        // Not events.
        assert_eq!(r.receive(1, &[99, 0, 0, 0], t + 2000), None);
        assert_eq!(r.receive(1, &[1, 0], t + 3000), None);
    }

    #[test]
    fn info_bodies() {
        assert_eq!(
            key_from_info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"),
            Some('5')
        );
        assert_eq!(
            key_from_info("application/dtmf-relay", "Signal= #\r\n"),
            Some('#')
        );
        assert_eq!(
            key_from_info("application/dtmf-relay", "Signal=11"),
            Some('#')
        );
        assert_eq!(key_from_info("application/dtmf", "7"), Some('7'));
        assert_eq!(key_from_info("application/dtmf-relay", "Signal=X"), None);
        assert_eq!(key_from_info("text/plain", "5"), None);
        assert_eq!(
            key_from_info("application/dtmf-relay", "Duration=160"),
            None
        );
        assert!(looks_like_event(&ev(3, true, 800)));
        assert!(!looks_like_event(&[0xD5; 160][..161 - 1 - 3]));
        // Sixteen zero bytes on another payload type (seen from SIPp
        // 3.6.1's play_dtmf) are not four presses of 0, nor is one
        // zero-length event.
        assert!(!looks_like_event(&[0; 16]));
        assert!(!looks_like_event(&[0; 4]));
        assert!(!looks_like_event(&[1, 0x8a, 0, 0]));
        assert!(!looks_like_event(&ev(16, false, 160)));
    }

    #[test]
    fn keys_are_sent_as_events_our_receiver_reads_once_each_with_a_gap_between() {
        let mut tx = KeySender::default();
        for k in "1#*9".chars() {
            assert!(tx.push(k));
        }
        assert!(!tx.push('x'), "not a key");
        let mut rx = Receiver::default();
        let (mut got, mut slots, mut ts, mut event_ts) = (String::new(), 0, 0u32, 0u32);
        let mut ends = 0;
        while tx.busy() {
            slots += 1;
            match tx.slot() {
                Some(p) => {
                    if p.start {
                        event_ts = ts;
                    }
                    if p.payload[1] & 0x80 != 0 {
                        ends += 1;
                    }
                    if let Some(k) = rx.receive(event_ts, &p.payload, slots * 20) {
                        got.push(k);
                    }
                    if p.last {
                        ts += EVENT_SAMPLES;
                    }
                }
                None => ts += 160,
            }
        }
        assert_eq!(got, "1#*9");
        assert_eq!(ends, 4 * ENDS as i64);
        // Four events of eight packets and three gaps of three slots.
        assert_eq!(slots, 4 * 8 + 3 * 3);
        // The durations grow to 100 ms and stay there for the ends.
        let mut one = KeySender::default();
        one.push('5');
        let durations: Vec<u16> = std::iter::from_fn(|| one.slot())
            .map(|p| u16::from_be_bytes([p.payload[2], p.payload[3]]))
            .collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800, 800]);
    }
}
