//! A bounded table of pending single-use entries: the NAF's Digest nonces and the BSF's AKA
//! challenges. Anyone can make a server create one (an unauthenticated request), so the
//! table has a fixed capacity and, when full, forgets the oldest entry — O(log n) per insert,
//! never a scan — so a flood cannot lock legitimate clients out: their fresh entries are the
//! newest and survive. Entries carry their own expiry; `take` removes atomically, so one
//! entry serves at most one request.

use std::collections::{BTreeMap, HashMap};

/// The table.
#[derive(Debug)]
pub struct Pending<V> {
    entries: HashMap<String, (u64, V)>,
    /// Insertion sequence → key, oldest first.
    order: BTreeMap<u64, String>,
    next: u64,
    capacity: usize,
}

impl<V> Pending<V> {
    /// An empty table holding at most `capacity` entries (at least one).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
            capacity: capacity.max(1),
        }
    }

    /// Add (or replace) an entry as the newest; the oldest go when the table is full.
    pub fn insert(&mut self, key: String, value: V) {
        if let Some((seq, _)) = self.entries.remove(&key) {
            self.order.remove(&seq);
        }
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.next += 1;
        self.order.insert(self.next, key.clone());
        self.entries.insert(key, (self.next, value));
    }

    /// Remove and return an entry.
    pub fn take(&mut self, key: &str) -> Option<V> {
        let (seq, v) = self.entries.remove(key)?;
        self.order.remove(&seq);
        Some(v)
    }

    /// Entries held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_go_first_and_take_is_single_use() {
        let mut t = Pending::new(3);
        for i in 0..5 {
            t.insert(format!("n{i}"), i);
        }
        assert_eq!(t.len(), 3);
        assert_eq!(t.take("n0"), None, "evicted");
        assert_eq!(t.take("n1"), None, "evicted");
        assert_eq!(t.take("n4"), Some(4));
        assert_eq!(t.take("n4"), None, "taken once");
        t.insert("n2".into(), 20);
        t.insert("x".into(), 7);
        t.insert("y".into(), 8);
        assert_eq!(t.take("n3"), None, "re-inserting n2 made n3 the oldest");
        assert_eq!(t.take("n2"), Some(20));
    }

    #[test]
    fn a_flood_never_evicts_the_newest() {
        let mut t = Pending::new(1000);
        t.insert("legit".into(), ());
        for i in 0..999 {
            t.insert(format!("flood{i}"), ());
        }
        assert_eq!(t.take("legit"), Some(()), "still there at capacity");
        t.insert("legit2".into(), ());
        for i in 0..100_000 {
            t.insert(format!("flood-b{i}"), ());
        }
        assert_eq!(t.len(), 1000);
        assert_eq!(
            t.take("legit2"),
            None,
            "a flood of 100x capacity evicts old entries"
        );
        t.insert("legit3".into(), ());
        assert_eq!(t.take("legit3"), Some(()));
    }
}
