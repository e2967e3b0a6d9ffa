//! Codes already counted. The watcher reads a file again from its first line when it is
//! restarted on new settings; what was counted (metrics, `code_seen` events, notifications)
//! must not be counted twice. A code is the same when it is the same code on the same line of
//! the same file. Memory is bounded: the oldest keys are forgotten first.

use std::collections::{HashSet, VecDeque};

use crate::event::FallbackCode;

type Key = (String, u64, String);

#[derive(Debug)]
pub struct SeenCodes {
    keys: HashSet<Key>,
    order: VecDeque<Key>,
    cap: usize,
}

impl Default for SeenCodes {
    fn default() -> Self {
        Self::with_capacity(200_000)
    }
}

impl SeenCodes {
    pub fn with_capacity(cap: usize) -> Self {
        Self {
            keys: HashSet::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// True the first time a code is offered.
    pub fn first_time(&mut self, code: &FallbackCode) -> bool {
        let key = (code.file.clone(), code.line, code.code.clone());
        if self.keys.contains(&key) {
            return false;
        }
        if self.order.len() == self.cap {
            if let Some(old) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
        self.keys.insert(key.clone());
        self.order.push_back(key);
        true
    }
}
