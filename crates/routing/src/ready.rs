//! The ready index of one queue and medium: agents ready with room, in the
//! queue's strategy order.

use crate::config::Strategy;
use crate::engine::ReadyKey;
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ReadyIndex {
    /// Any strategy: a B-tree by key.
    Sorted(BTreeSet<ReadyKey>),
    /// Longest idle: an agent enters with the time it became idle, and time
    /// only moves forward, so entries come in key order and a FIFO keeps
    /// them sorted. Leaving is lazy: a key leaves `live` at once and its
    /// entry is dropped when it reaches the front, or by compaction.
    Fifo {
        order: VecDeque<ReadyKey>,
        live: FxHashSet<ReadyKey>,
    },
}

impl ReadyIndex {
    pub fn new(strategy: Strategy) -> ReadyIndex {
        match strategy {
            Strategy::LongestIdle => ReadyIndex::Fifo {
                order: VecDeque::new(),
                live: FxHashSet::default(),
            },
            _ => ReadyIndex::Sorted(BTreeSet::new()),
        }
    }

    pub fn insert(&mut self, k: ReadyKey) {
        match self {
            ReadyIndex::Sorted(s) => {
                s.insert(k);
            }
            ReadyIndex::Fifo { order, live } => {
                if !live.insert(k) {
                    return;
                }
                if order.back().is_none_or(|b| *b <= k) {
                    order.push_back(k);
                } else {
                    // A tie in time with a lower agent id: place it.
                    let pos = order.partition_point(|x| *x < k);
                    order.insert(pos, k);
                }
            }
        }
    }

    pub fn remove(&mut self, k: &ReadyKey) {
        match self {
            ReadyIndex::Sorted(s) => {
                s.remove(k);
            }
            ReadyIndex::Fifo { order, live } => {
                live.remove(k);
                while order.front().is_some_and(|f| !live.contains(f)) {
                    order.pop_front();
                }
                if order.len() > 2 * live.len() + 32 {
                    order.retain(|x| live.contains(x));
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ReadyIndex::Sorted(s) => s.len(),
            ReadyIndex::Fifo { live, .. } => live.len(),
        }
    }

    /// The ready agents in strategy order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = &ReadyKey> + '_> {
        match self {
            ReadyIndex::Sorted(s) => Box::new(s.iter()),
            ReadyIndex::Fifo { order, live } => {
                Box::new(order.iter().filter(move |k| live.contains(*k)))
            }
        }
    }

    /// The first ready agent, in strategy order, that `ok` accepts.
    pub fn find(&self, mut ok: impl FnMut(&ReadyKey) -> bool) -> Option<&ReadyKey> {
        match self {
            ReadyIndex::Sorted(s) => s.iter().find(|k| ok(k)),
            ReadyIndex::Fifo { order, live } => order.iter().find(|k| live.contains(*k) && ok(k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::AgentId;

    fn k(t: i64, id: u32) -> ReadyKey {
        (t, 0, AgentId(id), id)
    }

    #[test]
    fn the_fifo_keeps_key_order_through_ties_and_lazy_removals() {
        let mut f = ReadyIndex::new(Strategy::LongestIdle);
        let mut b = ReadyIndex::new(Strategy::MostSkilled);
        let ops: Vec<(bool, ReadyKey)> = vec![
            (true, k(1, 5)),
            (true, k(2, 3)),
            (true, k(2, 1)), // tie in time, lower id
            (true, k(3, 9)),
            (false, k(2, 3)), // from the middle
            (true, k(4, 3)),
            (false, k(1, 5)), // from the front
            (true, k(4, 2)),
        ];
        for (ins, key) in ops {
            for idx in [&mut f, &mut b] {
                if ins {
                    idx.insert(key)
                } else {
                    idx.remove(&key)
                }
            }
            let a: Vec<_> = f.iter().copied().collect();
            let c: Vec<_> = b.iter().copied().collect();
            assert_eq!(a, c);
            assert_eq!(f.len(), b.len());
        }
        assert_eq!(f.find(|k| k.2 .0 > 2).map(|k| k.2), Some(AgentId(9)));
    }
}
