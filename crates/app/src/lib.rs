//! Switchboard's application core: every organisation's engine behind one
//! task, with every input committed to the store before it is
//! acknowledged, and the engines rebuilt from the store at start-up.
//!
//! Each organisation (tenant) has its own engine, live KPIs and live
//! stream: nothing one organisation does is visible to another, by
//! construction. One task owns the engines and the store (no locks around
//! an engine); the adapters (HTTP in `server`, SIP in `voice`) send it
//! commands through [`App`]. Time comes from the wall clock here, at the
//! edge of the pure engines, and goes into them as an input.
//!
//! No web framework and no SIP stack here: the adapters translate their
//! protocol into these calls and [`Error`] into their own answers.

pub mod anchor;
pub mod auth;
pub mod board;
mod bootstrap;
pub mod campaign;
pub mod clinical;
pub mod dosload;
mod engine;
mod error;
pub mod keys;
pub mod live;
pub mod metrics;
pub mod outbox;
pub mod planning;
pub mod quality;
pub mod recording;
pub mod reports;
pub mod review;
pub mod seal;
pub mod services;
mod snapshots;
mod start;
mod state;
mod tenant;
pub mod throttle;
pub mod time;
pub mod totp;
pub mod webauthn;

pub use bootstrap::{bootstrap, system_record, BootstrapError};
pub use error::Error;
pub use snapshots::KPI_IN_MEMORY;
pub use start::{start, Config, Running, StartError, SNAPSHOT_EVERY};
pub use state::{App, Caller, ContactIds, Credential, Submitted};
pub use tenant::{callback_at_risk, status_word, QueueBoard, Tenant, Wallboard, Window};
pub use time::wall_clock;
