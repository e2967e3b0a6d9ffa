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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{CodeSource, CodeTime};

    fn code(line: u64, code: &str) -> FallbackCode {
        FallbackCode {
            recipient: None,
            candidates: Vec::new(),
            code: code.into(),
            logged_at: None,
            created_at: None,
            expires_at: None,
            time: CodeTime::Unknown,
            expired: true,
            source: CodeSource::Console,
            file: "b.log".into(),
            line,
        }
    }

    #[test]
    fn a_code_read_again_is_not_new_and_the_oldest_are_forgotten_first() {
        let mut seen = SeenCodes::with_capacity(2);
        assert!(seen.first_time(&code(1, "111111")));
        assert!(
            !seen.first_time(&code(1, "111111")),
            "the same line read again"
        );
        assert!(
            seen.first_time(&code(2, "111111")),
            "the same code on another line"
        );
        assert!(seen.first_time(&code(3, "333333")));
        assert!(
            seen.first_time(&code(1, "111111")),
            "forgotten: the cap is 2"
        );
    }
}
