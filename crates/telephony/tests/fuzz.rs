//! Bounded fuzzing of everything that reads bytes from the network: random
//! input and mutations of valid messages never panic, and what is accepted
//! keeps its promises: within the limits, our answers parse back to what
//! was agreed, packets survive a write and a read unchanged, only real keys
//! come out of the key receiver (once a press), and no forged credential
//! is ever accepted.

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
        if let Ok(a) = sdp::parse(&b) {
            prop_assert!(a.payload_types.len() <= 32);
            // The codec is the first G.711 payload type offered.
            prop_assert_eq!(
                a.codec,
                a.payload_types.iter().find_map(|&p| telephony::g711::Codec::from_payload_type(p))
            );
        }
    }

    #[test]
    fn mutated_offers_answer_or_refuse(b in mutated(OFFER.as_bytes())) {
        if let Ok(a) = sdp::parse(&b) {
            prop_assert!(a.payload_types.len() <= 32);
            let local = sdp::Local { address: "127.0.0.1:4000".parse().unwrap(), session_id: 1, version: 1 };
            match sdp::answer(&local, &a) {
                Ok((text, codec)) => {
                    // Our answer parses back to what was agreed: the
                    // offer's codec, our address, the offer's events.
                    let back = sdp::parse(text.as_bytes()).unwrap();
                    prop_assert_eq!(Some(codec), a.codec);
                    prop_assert_eq!(back.codec, Some(codec));
                    prop_assert_eq!(back.address, local.address);
                    prop_assert_eq!(back.telephone_event, a.telephone_event);
                    prop_assert_eq!(back.direction, a.direction.answer());
                }
                Err(e) => prop_assert_eq!(e, sdp::SdpError::NoCommonCodec),
            }
        }
    }

    #[test]
    fn rtp_never_panics_and_payloads_stay_inside(b in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = rtp::parse(&b) {
            prop_assert!(p.payload.len() + 12 <= b.len());
            // Written out and read back, it is the same packet.
            let mut out = Vec::new();
            rtp::write(&mut out, &p);
            prop_assert_eq!(rtp::parse(&out).unwrap(), p);
        }
    }

    #[test]
    fn dtmf_never_panics(ts in any::<u32>(), b in prop::collection::vec(any::<u8>(), 0..16), t in any::<i64>()) {
        let mut r = dtmf::Receiver::default();
        let now = t / 2;
        if let Some(k) = r.receive(ts, &b, now) {
            prop_assert!(matches!(k, '0'..='9' | '*' | '#' | 'A'..='D'), "{:?}", k);
            prop_assert_eq!(Some(k), dtmf::key(b[0]));
            // The same packet again (a retransmission): no second press.
            prop_assert_eq!(r.receive(ts, &b, now + 20), None);
        }
        let _ = dtmf::looks_like_event(&b);
        let s = String::from_utf8_lossy(&b);
        let _ = dtmf::key_from_info("application/dtmf-relay", &s);
    }

    #[test]
    fn digest_headers_never_panic(s in "(?s).{0,300}") {
        // Nothing made without the server's nonce key passes.
        let now = 1_800_000_000_000;
        for h in [s.clone(), format!("Digest {s}")] {
            if let Ok(c) = digest::Credentials::parse(&h) {
                prop_assert!(c.verify("REGISTER", "switchboard", "x", b"server key", now).is_err());
            }
        }
    }

    /// With the server's own nonce, only the right response passes: any
    /// other answer, or the right one for another method, URI or password,
    /// is refused.
    #[test]
    fn only_the_right_answer_to_our_nonce_passes(
        guess in "[0-9a-f]{32}",
        password in "[ -~]{1,20}",
        method in prop::sample::select(vec!["REGISTER", "INVITE"]),
    ) {
        let now = 1_800_000_000_000;
        let nonce = digest::nonce(b"server key", now);
        let ha1 = digest::ha1("kent.agent", "switchboard", "the password");
        let uri = "sip:127.0.0.1";
        let header = |response: &str| format!(
            "Digest username=\"kent.agent\", realm=\"switchboard\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", qop=auth, nc=00000001, cnonce=\"c0ffee\""
        );
        let right = digest::response(&ha1, &nonce, "REGISTER", uri, Some(("00000001", "c0ffee")));
        let check = |h: &str, m: &str| digest::Credentials::parse(h).unwrap().verify(m, "switchboard", &ha1, b"server key", now);
        prop_assert!(check(&header(&right), "REGISTER").is_ok());
        if guess != right {
            prop_assert!(check(&header(&guess), "REGISTER").is_err());
        }
        if method != "REGISTER" {
            prop_assert!(check(&header(&right), method).is_err());
        }
        let other = digest::ha1("kent.agent", "switchboard", &password);
        if password != "the password" {
            let wrong = digest::response(&other, &nonce, "REGISTER", uri, Some(("00000001", "c0ffee")));
            prop_assert!(check(&header(&wrong), "REGISTER").is_err());
        }
    }
}
