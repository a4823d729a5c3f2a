//! Bounded fuzzing of everything that reads bytes from the network: random
//! input and mutations of valid messages never panic, and what is accepted
//! is within the limits.

use proptest::prelude::*;
use telephony::{digest, dtmf, rtp, sdp};

const OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";

/// A valid message with some bytes changed, some cut, some repeated.
fn mutated(base: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((0..base.len(), any::<u8>()), 0..8),
        0..=base.len(),
        0..base.len(),
    )
        .prop_map(move |(edits, cut, dup)| {
            let mut v = base.to_vec();
            for (i, b) in edits {
                v[i] = b;
            }
            v.truncate(cut.max(1));
            let extra = v[..dup.min(v.len())].to_vec();
            v.extend(extra);
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn sdp_never_panics(b in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = sdp::parse(&b);
    }

    #[test]
    fn mutated_offers_answer_or_refuse(b in mutated(OFFER.as_bytes())) {
        if let Ok(a) = sdp::parse(&b) {
            prop_assert!(a.payload_types.len() <= 32);
            let local = sdp::Local { address: "127.0.0.1:4000".parse().unwrap(), session_id: 1, version: 1 };
            if let Ok((text, _)) = sdp::answer(&local, &a) {
                // Our answer always parses back.
                prop_assert!(sdp::parse(text.as_bytes()).is_ok());
            }
        }
    }

    #[test]
    fn rtp_never_panics_and_payloads_stay_inside(b in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = rtp::parse(&b) {
            prop_assert!(p.payload.len() + 12 <= b.len());
        }
    }

    #[test]
    fn dtmf_never_panics(ts in any::<u32>(), b in prop::collection::vec(any::<u8>(), 0..16), t in any::<i64>()) {
        let mut r = dtmf::Receiver::default();
        let _ = r.receive(ts, &b, t / 2);
        let _ = dtmf::looks_like_event(&b);
        let s = String::from_utf8_lossy(&b);
        let _ = dtmf::key_from_info("application/dtmf-relay", &s);
    }

    #[test]
    fn digest_headers_never_panic(s in "(?s).{0,300}") {
        let _ = digest::Credentials::parse(&s).map(|c| c.verify("REGISTER", "switchboard", "x", b"k", 0));
        let h = format!("Digest {s}");
        let _ = digest::Credentials::parse(&h).map(|c| c.verify("REGISTER", "switchboard", "x", b"k", 0));
    }
}
