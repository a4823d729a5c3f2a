//! Triage pathways: questions whose answers lead to further questions,
//! another pathway, or a **disposition** (a care setting and a timeframe).
//! Pathways are data — a versioned, content-hashed set that an
//! organisation loads (its own clinically assured content; the project
//! ships only a demo set, which is not clinical advice). The format is in
//! `docs/pathways.md`.
//!
//! Pure: a [`PathwaySet`] is validated once ([`PathwaySet::check`]): every
//! path ends in a disposition, there are no loops, every reference
//! resolves. A [`Journey`] walks it answer by answer, recording each step,
//! and [`replay`] rebuilds a journey from its recorded answers (refusing a
//! different version of the content).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Where a disposition sends the patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CareSetting {
    Ambulance,
    EmergencyDepartment,
    UrgentTreatmentCentre,
    PrimaryCare,
    Dental,
    Pharmacy,
    ClinicianCallback,
    SelfCare,
}

/// The end of a journey.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disposition {
    /// e.g. `Dx02`.
    pub code: String,
    pub wording: String,
    /// Within how many minutes (none: no timeframe, e.g. self care).
    #[serde(default)]
    pub timeframe_minutes: Option<u32>,
    pub care_setting: CareSetting,
    /// A clinician must be involved (warm transfer or clinical callback).
    #[serde(default)]
    pub clinician_required: bool,
}

/// What happens after an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Next {
    /// Another node of the same pathway.
    Node(String),
    /// The start of another pathway.
    Pathway(String),
    /// The end: a disposition by code.
    Disposition(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub text: String,
    /// The symptom discriminator this answer carries (the clinical skill
    /// a service needs).
    #[serde(default)]
    pub discriminator: Option<u32>,
    /// State this answer sets, e.g. `{"pregnant": "yes"}`.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    pub next: Next,
}

/// A branch on state: the first case whose value matches, else `otherwise`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub equals: String,
    pub next: Next,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NodeKind {
    /// A question the handler asks.
    Question { text: String, answers: Vec<Answer> },
    /// No question: goes on by a state value (`age_group`, `sex`, or any
    /// value an answer set).
    Branch {
        on: String,
        cases: Vec<Case>,
        otherwise: Next,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    #[serde(flatten)]
    pub kind: NodeKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pathway {
    pub id: String,
    pub title: String,
    /// The symptom group (SG) this pathway carries.
    pub symptom_group: u32,
    /// The first node.
    pub start: String,
    pub nodes: Vec<Node>,
}

/// A whole set of pathways and dispositions, as loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathwaySet {
    pub name: String,
    pub version: String,
    /// Demo content: not clinical advice. Shown to users as such.
    #[serde(default)]
    pub demo: bool,
    /// Where every journey starts (e.g. a life-threatening check).
    pub entry: String,
    pub dispositions: Vec<Disposition>,
    pub pathways: Vec<Pathway>,
}

/// One problem with a pathway set, naming where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {problem}")]
pub struct Issue {
    pub at: String,
    pub problem: String,
}

/// Limits on a set.
pub const MAX_PATHWAYS: usize = 2_000;
pub const MAX_NODES: usize = 100_000;
pub const MAX_ANSWERS: usize = 20;
pub const MAX_TEXT: usize = 2_000;

/// Where a journey is: a node of a pathway.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct At {
    pub pathway: String,
    pub node: String,
}

/// A validated set, indexed.
#[derive(Debug, Clone)]
pub struct Checked {
    pub set: PathwaySet,
    /// SHA-256 of the canonical content (hex): the version a journey
    /// records.
    pub hash: String,
    nodes: HashMap<(String, String), usize>,
    paths: HashMap<String, usize>,
    disps: HashMap<String, usize>,
}

impl PathwaySet {
    /// Validates the set: unique ids, references that resolve, every path
    /// ending in a disposition, no loops, limits. All problems, not just
    /// the first.
    pub fn check(self) -> Result<Checked, Vec<Issue>> {
        let mut issues = Vec::new();
        macro_rules! issue {
            ($at:expr, $problem:expr $(,)?) => {
                issues.push(Issue {
                    at: $at,
                    problem: $problem,
                })
            };
        }
        if self.pathways.len() > MAX_PATHWAYS {
            issue!("set".into(), format!("more than {MAX_PATHWAYS} pathways"));
        }
        let mut disps = HashMap::new();
        for (i, d) in self.dispositions.iter().enumerate() {
            if d.code.is_empty() || d.code.len() > 20 {
                issue!(
                    format!("disposition {i}"),
                    "code: 1 to 20 characters".into()
                );
            }
            if d.wording.trim().is_empty() || d.wording.len() > MAX_TEXT {
                issue!(
                    format!("disposition {}", d.code),
                    "wording: 1 to 2000 characters".into()
                );
            }
            if disps.insert(d.code.clone(), i).is_some() {
                issue!(format!("disposition {}", d.code), "defined twice".into());
            }
        }
        let mut paths = HashMap::new();
        let mut nodes = HashMap::new();
        let mut total = 0;
        for (pi, p) in self.pathways.iter().enumerate() {
            if paths.insert(p.id.clone(), pi).is_some() {
                issue!(format!("pathway {}", p.id), "defined twice".into());
            }
            total += p.nodes.len();
            for (ni, n) in p.nodes.iter().enumerate() {
                let at = format!("pathway {} node {}", p.id, n.id);
                if nodes.insert((p.id.clone(), n.id.clone()), ni).is_some() {
                    issue!(at.clone(), "defined twice".into());
                }
                match &n.kind {
                    NodeKind::Question { text, answers } => {
                        if text.trim().is_empty() || text.len() > MAX_TEXT {
                            issue!(at.clone(), "text: 1 to 2000 characters".into());
                        }
                        if answers.is_empty() || answers.len() > MAX_ANSWERS {
                            issue!(at.clone(), format!("answers: 1 to {MAX_ANSWERS}"));
                        }
                        for a in answers {
                            if a.text.trim().is_empty() || a.text.len() > MAX_TEXT {
                                issue!(at.clone(), "an answer's text: 1 to 2000 characters".into());
                            }
                        }
                    }
                    NodeKind::Branch { on, cases, .. } => {
                        if on.is_empty() || cases.is_empty() || cases.len() > MAX_ANSWERS {
                            issue!(
                                at.clone(),
                                "a branch needs a state name and 1 to 20 cases".into()
                            );
                        }
                    }
                }
            }
        }
        if total > MAX_NODES {
            issue!("set".into(), format!("more than {MAX_NODES} nodes"));
        }
        // References.
        let resolve = |from: &str, n: &Next| -> Result<(), String> {
            match n {
                Next::Node(id) if !nodes.contains_key(&(from.to_string(), id.clone())) => Err(
                    format!("goes to node {id}, which pathway {from} does not have"),
                ),
                Next::Pathway(id) if !paths.contains_key(id) => {
                    Err(format!("goes to pathway {id}, which does not exist"))
                }
                Next::Disposition(c) if !disps.contains_key(c) => {
                    Err(format!("ends in disposition {c}, which is not defined"))
                }
                _ => Ok(()),
            }
        };
        if !paths.contains_key(&self.entry) {
            issue!("set".into(), format!("entry: no pathway {}", self.entry));
        }
        for p in &self.pathways {
            if !nodes.contains_key(&(p.id.clone(), p.start.clone())) {
                issue!(
                    format!("pathway {}", p.id),
                    format!("start: no node {}", p.start)
                );
            }
            for n in &p.nodes {
                for next in n.kind.nexts() {
                    if let Err(e) = resolve(&p.id, next) {
                        issue!(format!("pathway {} node {}", p.id, n.id), e);
                    }
                }
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        // No loops: the graph of nodes (a pathway jump goes to its start)
        // must be acyclic, so every walk ends, and it ends in a disposition
        // because every node has a way on and every reference resolves.
        let node_of = |p: &str, n: &Next| -> Option<At> {
            match n {
                Next::Node(id) => Some(At {
                    pathway: p.into(),
                    node: id.clone(),
                }),
                Next::Pathway(id) => Some(At {
                    pathway: id.clone(),
                    node: self.pathways[paths[id]].start.clone(),
                }),
                Next::Disposition(_) => None,
            }
        };
        let mut state: HashMap<At, u8> = HashMap::new(); // 1 visiting, 2 done
        for p in &self.pathways {
            for n in &p.nodes {
                let root = At {
                    pathway: p.id.clone(),
                    node: n.id.clone(),
                };
                if state.contains_key(&root) {
                    continue;
                }
                // Iterative depth-first search with an explicit stack.
                let mut stack: Vec<(At, usize)> = vec![(root.clone(), 0)];
                state.insert(root, 1);
                while let Some((at, k)) = stack.pop() {
                    let node = &self.pathways[paths[&at.pathway]].nodes
                        [nodes[&(at.pathway.clone(), at.node.clone())]];
                    let nexts = node.kind.nexts();
                    if k < nexts.len() {
                        stack.push((at.clone(), k + 1));
                        if let Some(to) = node_of(&at.pathway, nexts[k]) {
                            match state.get(&to) {
                                Some(1) => {
                                    issue!(
                                        format!("pathway {} node {}", at.pathway, at.node),
                                        format!(
                                            "loops back to pathway {} node {}: a journey could go round for ever",
                                            to.pathway, to.node
                                        ),
                                    );
                                }
                                Some(_) => {}
                                None => {
                                    state.insert(to.clone(), 1);
                                    stack.push((to, 0));
                                }
                            }
                        }
                    } else {
                        state.insert(at, 2);
                    }
                }
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        let hash = content_hash(&self);
        Ok(Checked {
            set: self,
            hash,
            nodes,
            paths,
            disps,
        })
    }
}

impl NodeKind {
    fn nexts(&self) -> Vec<&Next> {
        match self {
            NodeKind::Question { answers, .. } => answers.iter().map(|a| &a.next).collect(),
            NodeKind::Branch {
                cases, otherwise, ..
            } => cases
                .iter()
                .map(|c| &c.next)
                .chain(std::iter::once(otherwise))
                .collect(),
        }
    }
}

/// SHA-256 over a canonical rendering of the content (every field, in a
/// fixed order, each length-prefixed): the same content always gives the
/// same hash, whatever the file's layout.
fn content_hash(s: &PathwaySet) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut put = |x: &str| {
        h.update((x.len() as u64).to_le_bytes());
        h.update(x.as_bytes());
    };
    let next = |n: &Next| match n {
        Next::Node(x) => format!("node:{x}"),
        Next::Pathway(x) => format!("pathway:{x}"),
        Next::Disposition(x) => format!("disposition:{x}"),
    };
    put(&s.name);
    put(&s.version);
    put(if s.demo { "demo" } else { "" });
    put(&s.entry);
    for d in &s.dispositions {
        put(&d.code);
        put(&d.wording);
        put(&format!("{:?}", d.timeframe_minutes));
        put(&format!("{:?}", d.care_setting));
        put(if d.clinician_required {
            "clinician"
        } else {
            ""
        });
    }
    for p in &s.pathways {
        put(&p.id);
        put(&p.title);
        put(&p.symptom_group.to_string());
        put(&p.start);
        for n in &p.nodes {
            put(&n.id);
            match &n.kind {
                NodeKind::Question { text, answers } => {
                    put("question");
                    put(text);
                    for a in answers {
                        put(&a.text);
                        put(&format!("{:?}", a.discriminator));
                        for (k, v) in &a.set {
                            put(k);
                            put(v);
                        }
                        put(&next(&a.next));
                    }
                }
                NodeKind::Branch {
                    on,
                    cases,
                    otherwise,
                } => {
                    put("branch");
                    put(on);
                    for c in cases {
                        put(&c.equals);
                        put(&next(&c.next));
                    }
                    put(&next(otherwise));
                }
            }
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// One recorded step: the question asked and the answer given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub pathway: String,
    pub node: String,
    pub question: String,
    pub answer: usize,
    pub answer_text: String,
}

/// What a journey shows now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Now<'a> {
    Question {
        pathway: &'a str,
        node: &'a str,
        text: &'a str,
        answers: Vec<&'a str>,
    },
    Ended {
        disposition: &'a Disposition,
        /// The pathway it ended in: its symptom group.
        symptom_group: u32,
        /// Symptom discriminators carried by the answers, in order, without
        /// repeats.
        discriminators: Vec<u32>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JourneyError {
    #[error("the journey has ended")]
    Ended,
    #[error("answer {0} is not one of this question's answers")]
    NoSuchAnswer(usize),
    #[error(
        "pathway content {recorded} is not the loaded {loaded}: replay needs the same version"
    )]
    Version { recorded: String, loaded: String },
}

/// A triage journey: where it is, the state, the steps so far.
#[derive(Clone, Debug)]
pub struct Journey<'a> {
    set: &'a Checked,
    at: Option<At>,
    end: Option<(String, u32)>,
    pub state: BTreeMap<String, String>,
    pub steps: Vec<Step>,
    discriminators: Vec<u32>,
}

/// Most steps one journey may take (the set has no loops; this bounds a
/// deep one).
pub const MAX_STEPS: usize = 1_000;

impl Checked {
    /// A journey from the set's entry, with the patient's state (e.g.
    /// `age_group`, `sex`).
    pub fn start(&self, state: BTreeMap<String, String>) -> Journey<'_> {
        self.start_at(&self.set.entry, state)
    }

    /// A journey from a given pathway (must exist).
    pub fn start_at(&self, pathway: &str, state: BTreeMap<String, String>) -> Journey<'_> {
        let p = &self.set.pathways[self.paths[pathway]];
        let mut j = Journey {
            set: self,
            at: Some(At {
                pathway: p.id.clone(),
                node: p.start.clone(),
            }),
            end: None,
            state,
            steps: Vec::new(),
            discriminators: Vec::new(),
        };
        j.settle();
        j
    }

    pub fn has_pathway(&self, id: &str) -> bool {
        self.paths.contains_key(id)
    }

    pub fn disposition(&self, code: &str) -> Option<&Disposition> {
        self.disps.get(code).map(|&i| &self.set.dispositions[i])
    }

    fn node(&self, at: &At) -> &Node {
        &self.set.pathways[self.paths[&at.pathway]].nodes
            [self.nodes[&(at.pathway.clone(), at.node.clone())]]
    }
}

impl<'a> Journey<'a> {
    fn go(&mut self, from: &str, next: &Next) {
        match next {
            Next::Node(id) => {
                self.at = Some(At {
                    pathway: from.to_string(),
                    node: id.clone(),
                })
            }
            Next::Pathway(id) => {
                let p = &self.set.set.pathways[self.set.paths[id]];
                self.at = Some(At {
                    pathway: id.clone(),
                    node: p.start.clone(),
                })
            }
            Next::Disposition(code) => {
                let sg = self.set.set.pathways[self.set.paths[from]].symptom_group;
                self.at = None;
                self.end = Some((code.clone(), sg));
            }
        }
    }

    /// Follows branches until a question or the end.
    fn settle(&mut self) {
        while let Some(at) = self.at.clone() {
            let node = self.set.node(&at);
            let NodeKind::Branch {
                on,
                cases,
                otherwise,
            } = &node.kind
            else {
                return;
            };
            let value = self.state.get(on);
            let next = cases
                .iter()
                .find(|c| Some(&c.equals) == value)
                .map_or(otherwise, |c| &c.next)
                .clone();
            self.go(&at.pathway, &next);
        }
    }

    pub fn now(&self) -> Now<'a> {
        match &self.at {
            Some(at) => {
                let node = self.set.node(at);
                let p = &self.set.set.pathways[self.set.paths[&at.pathway]];
                match &node.kind {
                    NodeKind::Question { text, answers } => Now::Question {
                        pathway: &p.id,
                        node: &node.id,
                        text,
                        answers: answers.iter().map(|a| a.text.as_str()).collect(),
                    },
                    NodeKind::Branch { .. } => unreachable!("settled"),
                }
            }
            None => {
                let (code, sg) = self.end.as_ref().expect("ended");
                Now::Ended {
                    disposition: self.set.disposition(code).expect("checked"),
                    symptom_group: *sg,
                    discriminators: self.discriminators.clone(),
                }
            }
        }
    }

    /// Gives answer `k` (from 0) to the current question.
    pub fn answer(&mut self, k: usize) -> Result<Now<'a>, JourneyError> {
        let at = self.at.clone().ok_or(JourneyError::Ended)?;
        if self.steps.len() >= MAX_STEPS {
            return Err(JourneyError::Ended);
        }
        let node = self.set.node(&at);
        let NodeKind::Question { text, answers } = &node.kind else {
            unreachable!("settled")
        };
        let a = answers.get(k).ok_or(JourneyError::NoSuchAnswer(k))?;
        self.steps.push(Step {
            pathway: at.pathway.clone(),
            node: at.node.clone(),
            question: text.clone(),
            answer: k,
            answer_text: a.text.clone(),
        });
        if let Some(d) = a.discriminator {
            if !self.discriminators.contains(&d) {
                self.discriminators.push(d);
            }
        }
        for (key, v) in &a.set {
            self.state.insert(key.clone(), v.clone());
        }
        let next = a.next.clone();
        self.go(&at.pathway, &next);
        self.settle();
        Ok(self.now())
    }

    pub fn ended(&self) -> bool {
        self.at.is_none()
    }
}

/// Rebuilds a journey from its recorded answers against the same content
/// (by hash): the same steps, state and disposition.
pub fn replay<'a>(
    set: &'a Checked,
    recorded_hash: &str,
    start: &str,
    state: BTreeMap<String, String>,
    answers: &[usize],
) -> Result<Journey<'a>, JourneyError> {
    if recorded_hash != set.hash {
        return Err(JourneyError::Version {
            recorded: recorded_hash.to_string(),
            loaded: set.hash.clone(),
        });
    }
    let mut j = set.start_at(start, state);
    for &k in answers {
        j.answer(k)?;
    }
    Ok(j)
}

/// Every disposition code the set's pathways end in.
pub fn used_dispositions(set: &Checked) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in &set.set.pathways {
        for n in &p.nodes {
            for next in n.kind.nexts() {
                if let Next::Disposition(c) = next {
                    out.insert(c.clone());
                }
            }
        }
    }
    out
}
