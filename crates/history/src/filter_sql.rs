//! A [`HistoryFilter`] as a SQL `WHERE` clause over `sends s`, with the same meaning as the
//! in-memory [`HistoryFilter::apply`]: the provider by the `tried` bits, the outcome by
//! `outcome_class`, the recipient and the search by their normalised text —
//! on SQLite through the trigram table when the text has three characters or more, else (and on
//! PostgreSQL) by comparing the normalised columns.

use crate::db::Value;
use crate::query::{normalise, HistoryFilter, OutcomeFilter};
use crate::write::{masks_with, origin_kind_str, DELIVERED_DIRECT, FAILED, FAILED_OVER};

#[derive(Debug, Default)]
pub(crate) struct Where {
    pub clause: String,
    pub values: Vec<Value>,
    /// A recipient or search condition goes through the trigram table (SQLite, three
    /// characters or more): that table drives the query.
    pub has_text: bool,
    /// No condition at all: every send matches.
    pub everything: bool,
}

impl Where {
    /// The clause for `filter`. On SQLite every column of the `sends_filter` index is given
    /// (all its values when the filter leaves it open), so that a count can seek the index's
    /// matching entries only.
    pub(crate) fn of(filter: &HistoryFilter, sqlite: bool) -> Self {
        let mut w = Where::default();
        let mut parts: Vec<String> = Vec::new();
        let query = |q: &Option<String>| q.as_deref().map(normalise).filter(|q| !q.is_empty());
        let (recipient, search) = (query(&filter.recipient), query(&filter.search));
        let any_text = recipient.is_some() || search.is_some();
        let trigrams = |q: &Option<String>| q.as_ref().is_some_and(|q| q.chars().count() >= 3);
        w.has_text = sqlite && (trigrams(&recipient) || trigrams(&search));
        // With the trigram table driving the query, the index's columns are given only as the
        // filter narrows them.
        let open_lists = sqlite && !w.has_text;
        let list = |values: &[&str]| {
            values
                .iter()
                .map(|v| format!("'{v}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match filter.channel {
            Some(channel) => {
                let n = w.bind(Value::Text(channel.as_str().into()));
                parts.push(format!("s.channel = ${n}"));
            }
            None if open_lists => {
                parts.push(format!("s.channel IN ({})", list(&["email", "sms"])));
            }
            None => {}
        }
        match filter.origin {
            Some(origin) => {
                let n = w.bind(Value::Text(origin_kind_str(origin).into()));
                parts.push(format!("s.origin_kind = ${n}"));
            }
            None if open_lists => {
                parts.push(format!("s.origin_kind IN ({})", list(&["app", "service"])));
            }
            None => {}
        }
        let classes = match filter.outcome {
            None if open_lists => Some(format!("{FAILED}, {DELIVERED_DIRECT}, {FAILED_OVER}")),
            None => None,
            Some(OutcomeFilter::Delivered) => Some(format!("{DELIVERED_DIRECT}, {FAILED_OVER}")),
            Some(OutcomeFilter::Failed) => Some(FAILED.to_string()),
            Some(OutcomeFilter::FailedOver) => Some(FAILED_OVER.to_string()),
        };
        if let Some(classes) = classes {
            parts.push(format!("s.outcome_class IN ({classes})"));
        }
        let masks = match filter.provider {
            Some(provider) => Some(masks_with(provider)),
            None if open_lists => Some((1..64).collect()),
            None => None,
        };
        if let Some(masks) = masks {
            let masks: Vec<String> = masks.iter().map(i64::to_string).collect();
            parts.push(format!("s.tried IN ({})", masks.join(", ")));
        }
        w.everything = filter.channel.is_none()
            && filter.origin.is_none()
            && filter.outcome.is_none()
            && filter.provider.is_none();
        if let Some(q) = recipient {
            let part = w.text_match(&q, sqlite, false);
            parts.push(part);
        }
        if let Some(q) = search {
            let part = w.text_match(&q, sqlite, true);
            parts.push(part);
        }
        w.everything &= !any_text;
        w.clause = if parts.is_empty() {
            "1 = 1".into()
        } else {
            parts.join(" AND ")
        };
        w
    }

    /// Binds `value` and returns its placeholder number.
    fn bind(&mut self, value: Value) -> usize {
        self.values.push(value);
        self.values.len()
    }

    /// `q` (normalised, not empty) in the recipient, or — `receipts` — in the recipient or a
    /// provider's message id.
    fn text_match(&mut self, q: &str, sqlite: bool, receipts: bool) -> String {
        if sqlite && q.chars().count() >= 3 {
            let phrase = format!("\"{}\"", q.replace('"', "\"\""));
            let expression = if receipts {
                phrase
            } else {
                format!("recipient : {phrase}")
            };
            let n = self.bind(Value::Text(expression));
            return format!(
                "s.id IN (SELECT rowid FROM sends_search WHERE sends_search MATCH ${n})"
            );
        }
        if sqlite {
            let n = self.bind(Value::Text(q.into()));
            let recipient = format!("instr(s.recipient_normalised, ${n}) > 0");
            return if receipts {
                format!(
                    "({recipient} OR EXISTS (SELECT 1 FROM attempts a WHERE a.send_id = s.id \
                     AND instr(a.receipt_normalised, ${n}) > 0))"
                )
            } else {
                recipient
            };
        }
        let n = self.bind(Value::Text(format!("%{}%", escape_like(q))));
        let recipient = format!("s.recipient_normalised LIKE ${n} ESCAPE '\\'");
        if receipts {
            format!(
                "({recipient} OR EXISTS (SELECT 1 FROM attempts a WHERE a.send_id = s.id \
                 AND a.receipt_normalised LIKE ${n} ESCAPE '\\'))"
            )
        } else {
            recipient
        }
    }
}

/// `q` as the literal part of a `LIKE` pattern (escape character `\`).
fn escape_like(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgops_core::{Channel, ProviderKind};

    #[test]
    fn every_field_narrows_and_text_is_bound_not_written_into_the_sql() {
        let w = Where::of(
            &HistoryFilter {
                channel: Some(Channel::Sms),
                provider: Some(ProviderKind::Twilio),
                outcome: Some(OutcomeFilter::FailedOver),
                search: Some("SM'9f; DROP".into()),
                ..Default::default()
            },
            false,
        );
        assert!(w.clause.contains("s.channel = $1"), "{}", w.clause);
        assert!(w.clause.contains("s.tried IN ("), "{}", w.clause);
        assert!(w.clause.contains("s.outcome_class IN (2)"), "{}", w.clause);
        assert!(!w.clause.contains("DROP"), "{}", w.clause);
        assert_eq!(w.values[1], Value::Text("%sm'9f;drop%".into()));
        assert_eq!(escape_like("50%_a\\"), "50\\%\\_a\\\\");
        let empty = Where::of(
            &HistoryFilter {
                recipient: Some(" - ".into()),
                ..Default::default()
            },
            true,
        );
        assert_eq!(empty.values.len(), 0);
        assert!(empty.everything && !empty.has_text, "{empty:?}");
        assert!(
            empty.clause.contains("s.tried IN (1, 2, 3"),
            "{}",
            empty.clause
        );
        let pg = Where::of(&HistoryFilter::default(), false);
        assert_eq!(pg.clause, "1 = 1");
    }
}
