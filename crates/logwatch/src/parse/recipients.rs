//! Who a code is for when its line does not say: `OTP created for phone: 4165550471` announces a
//! request, and its `OTP Code: 589503` comes later — after other requests' lines when the
//! backend serves several at once. A recipient is attached only when the log makes it
//! unambiguous; otherwise the code is "for one of" every request that was waiting. This module
//! must never name one recipient for certain when another could be the right one.
//!
//! Times here are the log's own wall-clock times (a line without one takes the last one before
//! it), so the window is measured on the log's clock whatever zone it is in.
//!
//! The rule, under the backend's own order (a request announces, then logs its one code within
//! [`ANNOUNCEMENT_WINDOW`]):
//! - a correlation id (thread, task or request id captured by a pattern) pairs exactly;
//! - a code line that names its recipient answers that recipient's announcement;
//! - otherwise the code belongs to one of the waiting announcements: certain when only one
//!   recipient is waiting, "one of" them when several are. How many of the waiting ones were
//!   answered is counted; once every waiting announcement is answered, none is left;
//! - where lines may be missing — the first window of a file (its requests may have been
//!   announced in the file it was rotated from), after a copy-truncate, after skipping old
//!   lines — a code without its recipient on the line is not attributed for one window.

use std::collections::{HashMap, VecDeque};

use chrono::{NaiveDateTime, TimeDelta};

/// A code is logged at most this long after its request announced the recipient.
pub const ANNOUNCEMENT_WINDOW: TimeDelta = TimeDelta::seconds(60);
/// More candidates than this tell support staff nothing: the code is then "recipient unknown".
pub const MAX_CANDIDATES: usize = 8;
/// Announcements remembered at most (the oldest go first).
const MAX_WAITING: usize = 256;

/// Who a code is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    Certain(String),
    OneOf(Vec<String>),
    Unknown,
}

#[derive(Debug, Clone)]
struct Announcement {
    recipient: String,
    at: Option<NaiveDateTime>,
}

#[derive(Debug)]
pub(crate) struct RecipientTracker {
    /// Announcements without a correlation id, oldest first, some perhaps already answered.
    waiting: VecDeque<Announcement>,
    /// How many of `waiting` were answered by codes whose owner could not be told.
    answered: usize,
    by_corr: HashMap<String, Announcement>,
    /// Lines may have been lost at this log time (a copy-truncate drops what is written between
    /// the copy and the truncation): until every announcement from before it has expired, a
    /// code without its recipient on the line may belong to a lost one, so it is not attributed.
    lost_at: Option<Option<NaiveDateTime>>,
}

impl Default for RecipientTracker {
    /// Reading starts as after lost lines: a file's first lines may answer requests announced
    /// in the file it was rotated from.
    fn default() -> Self {
        Self {
            waiting: VecDeque::new(),
            answered: 0,
            by_corr: HashMap::new(),
            lost_at: Some(None),
        }
    }
}

impl RecipientTracker {
    pub(crate) fn announce(
        &mut self,
        recipient: &str,
        corr: Option<&str>,
        at: Option<NaiveDateTime>,
    ) {
        let a = Announcement {
            recipient: recipient.to_owned(),
            at,
        };
        if let Some(corr) = corr {
            if self.by_corr.len() >= MAX_WAITING {
                self.by_corr.clear();
            }
            self.by_corr.insert(corr.to_owned(), a);
            return;
        }
        self.expire(at);
        if self.waiting.len() >= MAX_WAITING {
            self.drop_oldest();
        }
        self.waiting.push_back(a);
    }

    /// A code line that names its recipient: that recipient's announcement is answered.
    pub(crate) fn named(&mut self, recipient: &str, at: Option<NaiveDateTime>) {
        self.note_time(at);
        self.expire(at);
        let same =
            |a: &Announcement| a.recipient == recipient || same_number(&a.recipient, recipient);
        if let Some(i) = self.waiting.iter().position(same) {
            self.waiting.remove(i);
            self.settle();
        }
    }

    /// Lines may have been lost here: forget what is waiting, and attribute nothing until the
    /// window has passed.
    pub(crate) fn lines_may_be_lost(&mut self, at: Option<NaiveDateTime>) {
        self.waiting.clear();
        self.answered = 0;
        self.by_corr.clear();
        self.lost_at = Some(at);
    }

    /// A code line that does not name its recipient.
    pub(crate) fn attribute(
        &mut self,
        corr: Option<&str>,
        at: Option<NaiveDateTime>,
    ) -> Attribution {
        self.note_time(at);
        if let Some(lost) = self.lost_at {
            match (lost, at) {
                (Some(lost), Some(at)) if at - lost > ANNOUNCEMENT_WINDOW => self.lost_at = None,
                _ => {
                    // A correlation id still pairs exactly: only announcements read since the
                    // loss are kept. Otherwise the code may answer a request that was lost.
                    return match corr.and_then(|c| self.by_corr.remove(c)) {
                        Some(a) if within_window(a.at, at) => Attribution::Certain(a.recipient),
                        _ => Attribution::Unknown,
                    };
                }
            }
        }
        if let Some(corr) = corr {
            return match self.by_corr.remove(corr) {
                Some(a) if within_window(a.at, at) => Attribution::Certain(a.recipient),
                _ => Attribution::Unknown,
            };
        }
        self.expire(at);
        if self.waiting.is_empty() {
            return Attribution::Unknown;
        }
        // Distinct recipients, stopping once there are too many to name.
        let mut distinct: Vec<&str> = Vec::new();
        for a in &self.waiting {
            if !distinct.contains(&a.recipient.as_str()) {
                distinct.push(&a.recipient);
                if distinct.len() > MAX_CANDIDATES {
                    break;
                }
            }
        }
        let result = match distinct.as_slice() {
            [only] => Attribution::Certain((*only).to_owned()),
            many if many.len() > MAX_CANDIDATES => Attribution::Unknown,
            many => Attribution::OneOf(many.iter().map(|s| (*s).to_owned()).collect()),
        };
        if self.waiting.len() == 1 {
            self.waiting.clear();
        } else {
            self.answered += 1;
        }
        self.settle();
        result
    }

    /// The time of the first line read starts the window after which nothing lost matters.
    pub(crate) fn note_time(&mut self, at: Option<NaiveDateTime>) {
        if self.lost_at == Some(None) && at.is_some() {
            self.lost_at = Some(at);
        }
    }

    /// Every waiting announcement answered: none is waiting any more.
    fn settle(&mut self) {
        if self.answered >= self.waiting.len() {
            self.waiting.clear();
            self.answered = 0;
        }
    }

    /// Announcements too old to be answered now are dropped. The dropped one may have been among
    /// the answered ones, so one answer is let go with it: the code that follows then counts
    /// among the rest, never towards a certain recipient it cannot belong to.
    fn expire(&mut self, now: Option<NaiveDateTime>) {
        let Some(now) = now else { return };
        while self
            .waiting
            .front()
            .is_some_and(|a| a.at.is_some_and(|at| now - at > ANNOUNCEMENT_WINDOW))
        {
            self.drop_oldest();
        }
        self.by_corr
            .retain(|_, a| a.at.is_none_or(|at| now - at <= ANNOUNCEMENT_WINDOW));
    }

    fn drop_oldest(&mut self) {
        self.waiting.pop_front();
        self.answered = self.answered.saturating_sub(1);
        self.settle();
    }
}

/// Two ways of writing one number: the digits of one end the other's (`4165550123` and
/// `+14165550123`). Compared without allocating: this runs for every fallback line of a scan.
fn same_number(a: &str, b: &str) -> bool {
    let mut x = a.bytes().rev().filter(u8::is_ascii_digit);
    let mut y = b.bytes().rev().filter(u8::is_ascii_digit);
    let mut matched = 0;
    loop {
        match (x.next(), y.next()) {
            (Some(p), Some(q)) if p == q => matched += 1,
            (Some(_), Some(_)) => return false,
            _ => return matched > 0,
        }
    }
}

fn within_window(announced: Option<NaiveDateTime>, code: Option<NaiveDateTime>) -> bool {
    match (announced, code) {
        (Some(a), Some(c)) => c - a <= ANNOUNCEMENT_WINDOW && a - c <= ANNOUNCEMENT_WINDOW,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past the first window of the file.
    fn steady() -> RecipientTracker {
        RecipientTracker {
            lost_at: None,
            ..RecipientTracker::default()
        }
    }

    #[test]
    fn the_first_window_of_a_file_attributes_nothing_it_may_be_rotated_into() {
        let mut r = RecipientTracker::default();
        r.announce("4165550123", None, t(0));
        assert_eq!(r.attribute(None, t(1)), Attribution::Unknown);
        r.announce("4165550999", None, t(90));
        assert_eq!(
            r.attribute(None, t(90)),
            Attribution::Certain("4165550999".into())
        );
    }

    fn t(s: i64) -> Option<NaiveDateTime> {
        chrono::DateTime::from_timestamp(1_760_000_000 + s, 0).map(|t| t.naive_utc())
    }

    #[test]
    fn one_waiting_request_gets_its_code_for_certain() {
        let mut r = steady();
        r.announce("4165550123", None, t(0));
        assert_eq!(
            r.attribute(None, t(0)),
            Attribution::Certain("4165550123".into())
        );
        assert_eq!(
            r.attribute(None, t(1)),
            Attribution::Unknown,
            "answered already"
        );
    }

    #[test]
    fn two_waiting_requests_make_both_codes_one_of_them() {
        let mut r = steady();
        r.announce("4165550471", None, t(0));
        r.announce("4165550999", None, t(0));
        let both = Attribution::OneOf(vec!["4165550471".into(), "4165550999".into()]);
        assert_eq!(r.attribute(None, t(0)), both);
        assert_eq!(r.attribute(None, t(0)), both);
        // Both answered: a third code has nobody waiting.
        assert_eq!(r.attribute(None, t(0)), Attribution::Unknown);
    }

    #[test]
    fn a_named_code_answers_its_own_announcement_only() {
        let mut r = steady();
        r.announce("4165550471", None, t(0));
        r.announce("4165550999", None, t(0));
        r.named("+14165550999", t(0));
        assert_eq!(
            r.attribute(None, t(0)),
            Attribution::Certain("4165550471".into())
        );
    }

    #[test]
    fn an_announcement_older_than_the_window_is_not_used() {
        let mut r = steady();
        r.announce("4165550123", None, t(0));
        assert_eq!(r.attribute(None, t(300)), Attribution::Unknown);
    }

    #[test]
    fn correlation_pairs_exactly_whatever_else_is_waiting() {
        let mut r = steady();
        r.announce("4165550471", Some("Thread-1"), t(0));
        r.announce("4165550999", Some("Thread-2"), t(0));
        r.announce("4165550555", None, t(0));
        assert_eq!(
            r.attribute(Some("Thread-2"), t(0)),
            Attribution::Certain("4165550999".into())
        );
        assert_eq!(r.attribute(Some("Thread-9"), t(0)), Attribution::Unknown);
    }

    #[test]
    fn after_lines_may_have_been_lost_nothing_is_attributed_for_a_window() {
        let mut r = steady();
        r.announce("4165550471", None, t(0));
        r.lines_may_be_lost(t(1));
        // 0471's code was lost; 0999 announces; the code that follows could be 0999's or the
        // code of an announcement that was lost with the truncation.
        r.announce("4165550999", None, t(2));
        assert_eq!(r.attribute(None, t(2)), Attribution::Unknown);
        r.announce("4165550555", None, t(100));
        assert_eq!(
            r.attribute(None, t(100)),
            Attribution::Certain("4165550555".into())
        );
    }

    #[test]
    fn the_same_person_twice_is_still_certain() {
        let mut r = steady();
        r.announce("4165550123", None, t(0));
        r.announce("4165550123", None, t(1));
        assert_eq!(
            r.attribute(None, t(1)),
            Attribution::Certain("4165550123".into())
        );
        assert_eq!(
            r.attribute(None, t(2)),
            Attribution::Certain("4165550123".into())
        );
    }
}
