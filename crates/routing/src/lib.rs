//! The Switchboard routing engine: which contact goes to which agent, and
//! when.
//!
//! A pure, deterministic state machine: no I/O, no clock, no randomness,
//! no async runtime. Time comes in with every input; the engine says when
//! it next needs waking ([`Engine::poll_timeout`]); every decision comes out
//! as an [`Event`]. The same engine runs in the server, the simulator and
//! the tests.
//!
//! Architecture invariant: this crate depends on no async runtime, database,
//! JSON library or clock. `tests/purity.rs` checks it.

mod config;
pub mod demo;
mod engine;
mod error;
mod event;
mod input;
mod query;
mod ready;
pub mod script;
mod slab;
pub mod trace;

pub use config::{
    AgentDef, Aging, Capacity, Config, Limits, OverflowAction, OverflowStep, QueueDef,
    ServiceTarget, SiteDef, SkillDef, SkillReq, Strategy, TeamDef, WhenFull,
};
pub use engine::{Engine, PRIORITY_LIMIT};
pub use error::{ConfigError, RoutingError};
pub use event::{Event, MoveReason, Record, Terminal, VoicemailReason, WithdrawReason};
pub use input::{
    Input, NewContact, NotReadyReason, Presence, TransferMode, TransferTarget,
    MAX_WRAP_UP_EXTENSION_MS, MAX_WRAP_UP_MS,
};
pub use query::{AgentStatus, AgentView, ContactState, ContactView, QueueView, WorkPhase};
