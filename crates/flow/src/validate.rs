//! Validation before a flow is saved or loaded. Every issue names the node.
//! A flow that fails never replaces the running one: `FlowBook::save`
//! returns a new book or the issues, and the old book is untouched.

use crate::hours::Hours;
use crate::model::{DigitRule, Flow, Node};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::Arc;

/// What a flow may refer to outside itself.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub queues: BTreeSet<String>,
    pub skills: BTreeSet<String>,
    /// Prompt ids known to the media store; `None`: not checked (chat).
    pub prompts: Option<BTreeSet<String>>,
    /// Self-service actions the server can carry out.
    pub actions: BTreeSet<String>,
}

/// One problem, naming the node (or the flow as a whole).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Issue {
    pub flow: String,
    pub node: Option<String>,
    pub problem: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Some(n) => write!(f, "flow '{}', node '{}': {}", self.flow, n, self.problem),
            None => write!(f, "flow '{}': {}", self.flow, self.problem),
        }
    }
}

/// Limits on a flow's size.
pub const MAX_NODES: usize = 500;
pub const MAX_OPTIONS: usize = 12;
/// Longest label a menu option shows in a chat, in characters.
pub const MAX_LABEL: usize = 60;
pub const MAX_TEXT: usize = 2_000;
pub const MAX_NAME: usize = 100;
pub const MAX_DIGITS: u8 = 32;
pub const MAX_RETRIES: u8 = 5;
pub const MAX_SET_ATTRIBUTES: usize = 32;
/// Deepest chain of sub-flows.
pub const MAX_SUBFLOW_DEPTH: usize = 5;

const KEYS: [&str; 12] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"];

/// A flow that passed validation, with its calendars compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub flow: Flow,
    pub version: u32,
    pub hours: BTreeMap<String, Hours>,
}

fn name_ok(s: &str) -> bool {
    !s.trim().is_empty() && s.len() <= MAX_NAME
}

/// Checks one flow on its own and against the catalog. `flows` are the
/// ids of flows it may call as sub-flows.
pub fn check(
    flow: &Flow,
    catalog: &Catalog,
    flows: &BTreeSet<String>,
) -> Result<BTreeMap<String, Hours>, Vec<Issue>> {
    let mut issues = Vec::new();
    let mut bad = |node: Option<&str>, problem: String| {
        issues.push(Issue {
            flow: flow.id.clone(),
            node: node.map(str::to_string),
            problem,
        });
    };
    if !name_ok(&flow.id) || !name_ok(&flow.name) {
        bad(
            None,
            format!("id and name must be 1 to {MAX_NAME} characters"),
        );
    }
    if flow.nodes.is_empty() || flow.nodes.len() > MAX_NODES {
        bad(
            None,
            format!("must have 1 to {MAX_NODES} nodes, has {}", flow.nodes.len()),
        );
    }
    if !flow.nodes.contains_key(&flow.start) {
        bad(None, format!("start node '{}' does not exist", flow.start));
    }
    let mut hours = BTreeMap::new();
    for (name, c) in &flow.calendars {
        match Hours::compile(c) {
            Ok(h) => {
                hours.insert(name.clone(), h);
            }
            Err(e) => bad(None, format!("calendar '{name}': {e}")),
        }
    }
    let text_ok = |t: &str| t.len() <= MAX_TEXT;
    let prompt_ok = |p: &str| catalog.prompts.as_ref().is_none_or(|ps| ps.contains(p));
    for (name, node) in &flow.nodes {
        let n = Some(name.as_str());
        if !name_ok(name) {
            bad(n, format!("node names must be 1 to {MAX_NAME} characters"));
        }
        for (field, target) in node.edges() {
            if !flow.nodes.contains_key(target) {
                bad(n, format!("{field} '{target}' does not exist"));
            }
        }
        let mut check_prompt = |p: &str, t: &str| {
            if !prompt_ok(p) {
                bad(n, format!("prompt '{p}' is not in the prompt store"));
            }
            if !text_ok(t) {
                bad(n, format!("text is longer than {MAX_TEXT} characters"));
            }
        };
        match node {
            Node::Play { prompt, text, .. }
            | Node::OfferCallback { prompt, text, .. }
            | Node::Voicemail { prompt, text, .. } => check_prompt(prompt, text),
            Node::Menu { prompt, text, .. } | Node::Collect { prompt, text, .. } => {
                check_prompt(prompt, text)
            }
            Node::SelfService {
                confirm_prompt,
                confirm_text,
                ..
            } => check_prompt(confirm_prompt, confirm_text),
            Node::HangUp {
                prompt: Some(p),
                text,
            } => check_prompt(p, text.as_deref().unwrap_or("")),
            _ => {}
        }
        match node {
            Node::Menu {
                options,
                labels,
                timeout_ms,
                retries,
                ..
            } => {
                if options.is_empty() || options.len() > MAX_OPTIONS {
                    bad(n, format!("a menu needs 1 to {MAX_OPTIONS} options"));
                }
                for (k, l) in labels {
                    if !options.contains_key(k) {
                        bad(n, format!("label for '{k}', which is not an option"));
                    }
                    let len = l.trim().chars().count();
                    if len == 0 || len > MAX_LABEL {
                        bad(n, format!("label for '{k}': 1 to {MAX_LABEL} characters"));
                    }
                }
                for k in options.keys() {
                    if !KEYS.contains(&k.as_str()) {
                        bad(n, format!("option key '{k}' is not 0-9, * or #"));
                    }
                }
                if !(1_000..=60_000).contains(timeout_ms) {
                    bad(
                        n,
                        format!("timeout_ms {timeout_ms} is outside 1000..=60000"),
                    );
                }
                if *retries > MAX_RETRIES {
                    bad(n, format!("retries {retries} is above {MAX_RETRIES}"));
                }
            }
            Node::Collect {
                attribute,
                validate,
                timeout_ms,
                retries,
                ..
            } => {
                if !name_ok(attribute) {
                    bad(n, "attribute name must be 1 to 100 characters".into());
                }
                if let DigitRule::Digits { min, max } = validate {
                    if *min == 0 || min > max || *max > MAX_DIGITS {
                        bad(
                            n,
                            format!(
                                "digits need 1 <= min <= max <= {MAX_DIGITS}, got {min}..{max}"
                            ),
                        );
                    }
                }
                if !(1_000..=60_000).contains(timeout_ms) {
                    bad(
                        n,
                        format!("timeout_ms {timeout_ms} is outside 1000..=60000"),
                    );
                }
                if *retries > MAX_RETRIES {
                    bad(n, format!("retries {retries} is above {MAX_RETRIES}"));
                }
            }
            Node::Hours { calendar, .. } if !flow.calendars.contains_key(calendar) => {
                bad(
                    n,
                    format!("calendar '{calendar}' is not defined in the flow"),
                );
            }
            Node::Branch {
                attribute, any_of, ..
            } if (!name_ok(attribute) || any_of.len() > MAX_OPTIONS * 4) => {
                bad(
                    n,
                    "branch needs an attribute name and at most 48 values".into(),
                );
            }
            Node::Set {
                attributes,
                require,
                priority,
                ..
            } => {
                if attributes.len() > MAX_SET_ATTRIBUTES {
                    bad(n, format!("sets more than {MAX_SET_ATTRIBUTES} attributes"));
                }
                if priority.is_some_and(|p| p.abs() > 1_000_000) {
                    bad(n, "priority beyond ±1000000".into());
                }
                for r in require {
                    match r.rsplit_once(':') {
                        Some((skill, level))
                            if level.parse::<u8>().is_ok_and(|l| (1..=10).contains(&l)) =>
                        {
                            if !catalog.skills.contains(skill) {
                                bad(n, format!("requires unknown skill '{skill}'"));
                            }
                        }
                        _ => bad(
                            n,
                            format!("requirement '{r}' is not SKILL:LEVEL (level 1-10)"),
                        ),
                    }
                }
            }
            Node::SelfService { action, .. } if !catalog.actions.contains(action) => {
                bad(n, format!("self-service action '{action}' is unknown"));
            }
            Node::Queue {
                queue,
                callback_key,
                announce_every_ms,
                ..
            } => {
                if !catalog.queues.contains(queue) {
                    bad(n, format!("queue '{queue}' does not exist"));
                }
                if callback_key
                    .as_ref()
                    .is_some_and(|k| !KEYS.contains(&k.as_str()))
                {
                    bad(n, "callback_key is not 0-9, * or #".into());
                }
                if announce_every_ms.is_some_and(|a| !(10_000..=600_000).contains(&a)) {
                    bad(n, "announce_every_ms is outside 10000..=600000".into());
                }
            }
            Node::OfferCallback { queue, .. } if !catalog.queues.contains(queue) => {
                bad(n, format!("queue '{queue}' does not exist"))
            }
            Node::Transfer { number } => {
                let digits = number.strip_prefix('+').unwrap_or(number);
                if digits.is_empty()
                    || digits.len() > 20
                    || !digits.chars().all(|c| c.is_ascii_digit())
                {
                    bad(n, format!("'{number}' is not a phone number"));
                }
            }
            Node::Subflow { flow: f, .. } => {
                if *f == flow.id {
                    bad(n, "a flow cannot call itself".into());
                } else if !flows.contains(f) {
                    bad(n, format!("sub-flow '{f}' does not exist"));
                }
            }
            _ => {}
        }
    }
    if !issues.is_empty() || !flow.nodes.contains_key(&flow.start) {
        issues.sort();
        return Err(issues);
    }
    // Graph checks: reachable, every path ends, no loop without a bound.
    let mut reached = BTreeSet::new();
    let mut todo = VecDeque::from([flow.start.as_str()]);
    while let Some(n) = todo.pop_front() {
        if reached.insert(n) {
            todo.extend(flow.nodes[n].edges().into_iter().map(|(_, t)| t));
        }
    }
    for name in flow.nodes.keys() {
        if !reached.contains(name.as_str()) {
            issues.push(Issue {
                flow: flow.id.clone(),
                node: Some(name.clone()),
                problem: "cannot be reached from the start".into(),
            });
        }
    }
    // Backwards from the terminal nodes: whatever cannot get there never ends.
    let mut ends: BTreeSet<&str> = flow
        .nodes
        .iter()
        .filter(|(_, n)| n.is_terminal())
        .map(|(k, _)| k.as_str())
        .collect();
    loop {
        let before = ends.len();
        for (name, node) in &flow.nodes {
            if !ends.contains(name.as_str()) && node.edges().iter().any(|(_, t)| ends.contains(t)) {
                ends.insert(name);
            }
        }
        if ends.len() == before {
            break;
        }
    }
    for name in flow.nodes.keys() {
        if reached.contains(name.as_str()) && !ends.contains(name.as_str()) {
            issues.push(Issue {
                flow: flow.id.clone(),
                node: Some(name.clone()),
                problem: "no path from here ever ends the call".into(),
            });
        }
    }
    // A cycle among nodes that never wait for the caller would spin.
    if let Some(cycle) = spinning_cycle(flow) {
        issues.push(Issue {
            flow: flow.id.clone(),
            node: Some(cycle[0].clone()),
            problem: format!("loop {} never waits for the caller", cycle.join(" -> ")),
        });
    }
    if issues.is_empty() {
        Ok(hours)
    } else {
        issues.sort();
        Err(issues)
    }
}

/// A cycle through nodes none of which waits for the caller, if any.
fn spinning_cycle(flow: &Flow) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark: BTreeMap<&str, Mark> =
        flow.nodes.keys().map(|k| (k.as_str(), Mark::New)).collect();
    for start in flow.nodes.keys() {
        if mark[start.as_str()] != Mark::New || flow.nodes[start].waits_for_caller() {
            continue;
        }
        // Iterative depth-first search over non-waiting nodes.
        let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        mark.insert(start, Mark::Open);
        while let Some(&mut (n, ref mut i)) = stack.last_mut() {
            let edges = flow.nodes[n].edges();
            if *i < edges.len() {
                let t = edges[*i].1;
                *i += 1;
                if flow.nodes.get(t).is_none_or(|tn| tn.waits_for_caller()) {
                    continue;
                }
                match mark[t] {
                    Mark::New => {
                        mark.insert(t, Mark::Open);
                        stack.push((t, 0));
                    }
                    Mark::Open => {
                        let from = stack
                            .iter()
                            .position(|(s, _)| *s == t)
                            .expect("open node on stack");
                        let mut cycle: Vec<String> =
                            stack[from..].iter().map(|(s, _)| s.to_string()).collect();
                        cycle.push(t.to_string());
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark.insert(n, Mark::Done);
                stack.pop();
            }
        }
    }
    None
}

/// Every saved flow, each at its latest version. Immutable: saving makes a
/// new book, so calls in progress keep the book (and versions) they started
/// with.
#[derive(Debug, Clone, Default)]
pub struct FlowBook {
    pub flows: BTreeMap<String, Arc<Checked>>,
}

impl FlowBook {
    /// A new book with `flow` saved as its next version, or the issues (the
    /// book is unchanged). Checks the flow, and the sub-flow calls of the
    /// whole book for cycles and depth.
    pub fn save(&self, flow: Flow, catalog: &Catalog) -> Result<FlowBook, Vec<Issue>> {
        let mut ids: BTreeSet<String> = self.flows.keys().cloned().collect();
        ids.insert(flow.id.clone());
        let hours = check(&flow, catalog, &ids)?;
        let version = self.flows.get(&flow.id).map_or(1, |c| c.version + 1);
        let mut next = self.clone();
        let id = flow.id.clone();
        next.flows.insert(
            id.clone(),
            Arc::new(Checked {
                flow,
                version,
                hours,
            }),
        );
        if let Some(problem) = next.subflow_problem() {
            return Err(vec![Issue {
                flow: id,
                node: None,
                problem,
            }]);
        }
        Ok(next)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Checked>> {
        self.flows.get(id).cloned()
    }

    /// Sub-flow calls must form no cycle and be at most MAX_SUBFLOW_DEPTH deep.
    fn subflow_problem(&self) -> Option<String> {
        fn depth(book: &FlowBook, id: &str, path: &mut Vec<String>) -> Result<usize, String> {
            if path.iter().any(|p| p == id) {
                path.push(id.to_string());
                return Err(format!(
                    "sub-flows call each other in a circle: {}",
                    path.join(" -> ")
                ));
            }
            let Some(c) = book.flows.get(id) else {
                return Ok(0);
            };
            path.push(id.to_string());
            let mut deepest = 0;
            for node in c.flow.nodes.values() {
                if let Node::Subflow { flow, .. } = node {
                    deepest = deepest.max(1 + depth(book, flow, path)?);
                }
            }
            path.pop();
            Ok(deepest)
        }
        for id in self.flows.keys() {
            match depth(self, id, &mut Vec::new()) {
                Err(e) => return Some(e),
                Ok(d) if d > MAX_SUBFLOW_DEPTH => {
                    return Some(format!(
                        "sub-flows nest {d} deep from '{id}', more than {MAX_SUBFLOW_DEPTH}"
                    ))
                }
                Ok(_) => {}
            }
        }
        None
    }
}
