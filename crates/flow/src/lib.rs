//! Call flows (IVR): the definition format, validation, and a pure
//! interpreter shared by telephony, chat and the simulator.
//!
//! Pure: no I/O, no clock; time is an input. Format: docs/flows.md.

pub mod holidays;
pub mod hours;
pub mod model;

pub use hours::Hours;
pub use model::{Calendar, DigitRule, Flow, Node};
pub mod validate;

pub use validate::{Catalog, Checked, FlowBook, Issue};
pub mod interp;

pub use interp::{
    Call, FlowEvent, Input, InterpError, Outcome, Output, MAX_STEPS_PER_INPUT, MAX_VISITS,
};
