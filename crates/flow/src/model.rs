//! The flow definition format (JSON; see docs/flows.md) and its domain
//! model: a directed graph of nodes, plus the calendars it branches on.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One call flow, as saved. Nodes are named; edges are node names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub id: String,
    pub name: String,
    /// The first node.
    pub start: String,
    pub nodes: BTreeMap<String, Node>,
    /// Opening-hours calendars the flow's `hours` nodes name.
    #[serde(default)]
    pub calendars: BTreeMap<String, Calendar>,
}

/// A node, and for each kind the edges it follows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Node {
    /// Plays a prompt (or shows its text in a chat), then goes on.
    Play {
        prompt: String,
        text: String,
        next: String,
    },
    /// Plays a prompt and waits for one key.
    Menu {
        prompt: String,
        text: String,
        /// Key ("0"-"9", "*", "#") → next node.
        options: BTreeMap<String, String>,
        /// Key → a short label: a chat shows the options as buttons with
        /// these words (a key without one shows as the key).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        labels: BTreeMap<String, String>,
        /// How long to wait for a key after the prompt, ms.
        #[serde(default = "default_timeout")]
        timeout_ms: u32,
        /// Re-prompts after no key or a wrong key, before `failure`.
        #[serde(default = "default_retries")]
        retries: u8,
        /// Where to go once the retries are used up.
        failure: String,
    },
    /// Branches on the opening hours of a calendar, in Europe/London time.
    Hours {
        calendar: String,
        open: String,
        closed: String,
    },
    /// Branches on a caller attribute (set by the edge: number called,
    /// known patient, language; or by earlier nodes).
    Branch {
        attribute: String,
        /// Equal to any of these (empty: the attribute is present at all).
        #[serde(default)]
        any_of: Vec<String>,
        then: String,
        #[serde(rename = "else")]
        otherwise: String,
    },
    /// Collects digits, validates them, and stores them in an attribute.
    Collect {
        prompt: String,
        text: String,
        attribute: String,
        validate: DigitRule,
        #[serde(default = "default_timeout")]
        timeout_ms: u32,
        #[serde(default = "default_retries")]
        retries: u8,
        next: String,
        failure: String,
    },
    /// Sets contact attributes, priority and skill requirements.
    Set {
        #[serde(default)]
        attributes: BTreeMap<String, String>,
        #[serde(default)]
        priority: Option<i32>,
        /// Skills needed, as "skill:level".
        #[serde(default)]
        require: Vec<String>,
        next: String,
    },
    /// Self service: creates a task without an agent (e.g. a wheelchair
    /// return request) from attributes, then confirms it.
    SelfService {
        action: String,
        /// Attributes the action needs; missing ones go to `failure`.
        #[serde(default)]
        needs: Vec<String>,
        confirm_prompt: String,
        confirm_text: String,
        next: String,
        failure: String,
    },
    /// Joins a queue; the caller hears position and expected wait every
    /// `announce_every_ms` and hold music between, and may press
    /// `callback_key` to be called back keeping their place.
    Queue {
        queue: String,
        #[serde(default)]
        music: Option<String>,
        #[serde(default)]
        announce_every_ms: Option<u32>,
        #[serde(default)]
        callback_key: Option<String>,
    },
    /// Offers a callback now: "1" accepts (the caller hangs up, the place
    /// in `queue` is kept), anything else or silence goes to `declined`.
    OfferCallback {
        queue: String,
        prompt: String,
        text: String,
        declined: String,
    },
    Voicemail {
        box_name: String,
        prompt: String,
        text: String,
    },
    /// Hands the call to an external number.
    Transfer { number: String },
    /// Runs another flow, then comes back to `next`.
    Subflow { flow: String, next: String },
    /// Ends a sub-flow and returns to the caller's flow (a hang-up in a
    /// top-level flow).
    Return,
    HangUp {
        #[serde(default)]
        prompt: Option<String>,
        #[serde(default)]
        text: Option<String>,
    },
}

fn default_timeout() -> u32 {
    5_000
}

fn default_retries() -> u8 {
    2
}

/// What collected digits must be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DigitRule {
    /// An NHS number: 10 digits with a valid check digit.
    NhsNumber,
    /// A date of birth as DDMMYYYY, a real date, not in the future.
    DateOfBirth,
    /// Between `min` and `max` digits.
    Digits { min: u8, max: u8 },
}

/// Weekly opening hours, bank holidays and dated exceptions, in
/// Europe/London local time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// e.g. { days = ["mon", "tue"], open = "08:00", close = "18:30" }.
    pub weekly: Vec<Session>,
    /// Dates ("2026-12-25") closed all day unless an exception opens them;
    /// "england-and-wales" for all of that calendar's bank holidays.
    #[serde(default)]
    pub bank_holidays: Vec<String>,
    /// Dated exceptions: closed all day, or other hours.
    #[serde(default)]
    pub exceptions: Vec<Exception>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub days: Vec<String>,
    pub open: String,
    pub close: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub date: String,
    /// None: closed that day.
    #[serde(default)]
    pub open: Option<String>,
    #[serde(default)]
    pub close: Option<String>,
}

impl Node {
    /// The node's outgoing edges, with the field each is in.
    pub fn edges(&self) -> Vec<(&'static str, &str)> {
        match self {
            Node::Play { next, .. } | Node::Set { next, .. } | Node::Subflow { next, .. } => {
                vec![("next", next)]
            }
            Node::Menu {
                options, failure, ..
            } => {
                let mut v: Vec<(&'static str, &str)> =
                    options.values().map(|n| ("options", n.as_str())).collect();
                v.push(("failure", failure));
                v
            }
            Node::Hours { open, closed, .. } => vec![("open", open), ("closed", closed)],
            Node::Branch {
                then, otherwise, ..
            } => vec![("then", then), ("else", otherwise)],
            Node::Collect { next, failure, .. } | Node::SelfService { next, failure, .. } => {
                vec![("next", next), ("failure", failure)]
            }
            Node::OfferCallback { declined, .. } => vec![("declined", declined)],
            Node::Queue { .. }
            | Node::Voicemail { .. }
            | Node::Transfer { .. }
            | Node::Return
            | Node::HangUp { .. } => {
                vec![]
            }
        }
    }

    /// Ends the caller's time in this flow.
    pub fn is_terminal(&self) -> bool {
        self.edges().is_empty()
    }

    /// Waits for the caller (a key), so a loop through it is bounded by
    /// the caller and the visit cap.
    pub fn waits_for_caller(&self) -> bool {
        matches!(
            self,
            Node::Menu { .. } | Node::Collect { .. } | Node::OfferCallback { .. }
        )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Node::Play { .. } => "play",
            Node::Menu { .. } => "menu",
            Node::Hours { .. } => "hours",
            Node::Branch { .. } => "branch",
            Node::Collect { .. } => "collect",
            Node::Set { .. } => "set",
            Node::SelfService { .. } => "self_service",
            Node::Queue { .. } => "queue",
            Node::OfferCallback { .. } => "offer_callback",
            Node::Voicemail { .. } => "voicemail",
            Node::Transfer { .. } => "transfer",
            Node::Subflow { .. } => "subflow",
            Node::Return => "return",
            Node::HangUp { .. } => "hang_up",
        }
    }
}
