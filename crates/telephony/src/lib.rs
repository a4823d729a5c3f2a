//! The pure parts of the telephony edge: G.711 A-law and µ-law, RTP
//! packets, RFC 4733 telephone-event reception, a leg's liveness, SDP offer/answer for
//! audio, and SIP digest authentication. No I/O and no clock: the server's
//! voice edge (`server::voice`) feeds them bytes and times.

pub mod digest;
pub mod dtmf;
pub mod g711;
pub mod liveness;
pub mod rtp;
pub mod sdp;
