//! The delivery reports (Twilio, SendGrid, SES and SNS SMS statuses), in their own table beside
//! the sends. A report is kept once per provider and event id ([`DeliveryEvent::same_report`],
//! the table's unique key), whether or not its send is known yet: it is matched to a send's
//! attempt by the provider's message id when the send is listed, so a callback that arrives
//! before the send is recorded (or for a send made by another process) is not lost.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use msgops_delivery::{DeliveryEvent, DeliveryRates};
use msgops_provider_kind::ProviderKind;

use crate::db::{bind_values, on_pool, BeginWrite, Value};
use crate::query::HistoryPage;
use crate::store::{retryable, HistoryError, HistoryStore};
use crate::write::micros;

const WHAT: &str = "delivery reports";

pub(crate) const INSERT_DELIVERY: &str = "INSERT INTO deliveries (provider, event_id, \
     provider_message_id, received_at, event) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (provider, event_id) DO NOTHING";

impl HistoryStore {
    /// Keeps `event` unless a report with the same event id from the same provider is already
    /// kept (a provider's retry, a replay inside its window, another process's copy): returns
    /// whether it is new.
    pub async fn record_delivery(&self, event: &DeliveryEvent) -> Result<bool, HistoryError> {
        let json = serde_json::to_string(event).map_err(|e| self.write_error(WHAT, e))?;
        let mut tries = 0;
        loop {
            tries += 1;
            let done: Result<u64, sqlx::Error> = on_pool!(&self.db, pool, DB => async {
                let mut tx = pool.begin_write().await?;
                let n = sqlx::query::<DB>(INSERT_DELIVERY)
                    .bind(event.provider.as_str())
                    .bind(event.event_id.as_str())
                    .bind(event.provider_message_id.as_str())
                    .bind(micros(event.received_at))
                    .bind(json.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }
            .await);
            match done {
                Ok(n) => return Ok(n == 1),
                Err(e) if tries < 3 && retryable(&e) => {
                    tokio::time::sleep(std::time::Duration::from_millis(100 * tries)).await;
                }
                Err(e) => return Err(self.write_error(WHAT, e)),
            }
        }
    }

    async fn deliveries_where(
        &self,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Vec<DeliveryEvent>, HistoryError> {
        let rows: Result<Vec<String>, sqlx::Error> = on_pool!(&self.db, pool, DB => {
            bind_values!(sqlx::query_scalar::<DB, String>(sql), &values)
                .fetch_all(pool)
                .await
        });
        let rows = rows.map_err(|e| self.read_error(WHAT, e))?;
        Ok(rows
            .into_iter()
            .filter_map(|json| match serde_json::from_str::<DeliveryEvent>(&json) {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::warn!(error = %e, "a delivery report could not be read; left out");
                    None
                }
            })
            .collect())
    }

    /// The reports about one message, oldest first.
    pub async fn timeline(
        &self,
        provider: ProviderKind,
        provider_message_id: &str,
    ) -> Result<Vec<DeliveryEvent>, HistoryError> {
        let events = self
            .deliveries_where(
                "SELECT event FROM deliveries WHERE provider = $1 AND provider_message_id = $2 \
                 ORDER BY id",
                vec![
                    Value::Text(provider.as_str().into()),
                    Value::Text(provider_message_id.into()),
                ],
            )
            .await?;
        Ok(msgops_delivery::timeline(
            events.iter(),
            provider,
            provider_message_id,
        ))
    }

    /// `page` with what the providers reported about its sends, matched by each attempt's
    /// provider message id.
    pub async fn fill(&self, mut page: HistoryPage) -> Result<HistoryPage, HistoryError> {
        let mut keys: Vec<(ProviderKind, String)> = page
            .sends
            .iter()
            .flat_map(|s| s.record.outcome.attempts())
            .filter_map(|a| a.provider_message_id.clone().map(|id| (a.provider, id)))
            .collect();
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            return Ok(page);
        }
        let mut by_provider: BTreeMap<ProviderKind, Vec<&str>> = BTreeMap::new();
        for (p, id) in &keys {
            by_provider.entry(*p).or_default().push(id.as_str());
        }
        let mut relevant = Vec::new();
        for (provider, ids) in by_provider {
            for chunk in ids.chunks(500) {
                let placeholders: Vec<String> =
                    (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!(
                    "SELECT event FROM deliveries WHERE provider = $1 AND provider_message_id \
                     IN ({}) ORDER BY id",
                    placeholders.join(", ")
                );
                relevant.extend(
                    self.deliveries_where(
                        &sql,
                        std::iter::once(Value::Text(provider.as_str().into()))
                            .chain(chunk.iter().map(|id| Value::Text((*id).into())))
                            .collect(),
                    )
                    .await?,
                );
            }
        }
        page.deliveries = keys
            .iter()
            .filter_map(|(provider, id)| {
                msgops_delivery::MessageDelivery::of(relevant.iter(), *provider, id)
            })
            .collect();
        Ok(page)
    }

    /// Reports received at or after `since`, in the order they were kept.
    pub async fn deliveries_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<DeliveryEvent>, HistoryError> {
        self.deliveries_where(
            "SELECT event FROM deliveries WHERE received_at >= $1 ORDER BY id",
            vec![Value::Int(micros(since))],
        )
        .await
    }

    /// Each provider's delivered share over `window` up to `now`.
    pub async fn rates(
        &self,
        now: DateTime<Utc>,
        window: std::time::Duration,
    ) -> Result<DeliveryRates, HistoryError> {
        let since = now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let events = self
            .deliveries_where(
                "SELECT event FROM deliveries WHERE received_at >= $1 AND received_at <= $2",
                vec![Value::Int(micros(since)), Value::Int(micros(now))],
            )
            .await?;
        Ok(DeliveryRates::of(events.iter(), now, window))
    }

    /// How many reports are kept.
    pub async fn delivery_count(&self) -> Result<u64, HistoryError> {
        let n: Result<i64, sqlx::Error> = on_pool!(&self.db, pool, DB =>
            sqlx::query_scalar::<DB, i64>("SELECT COUNT(*) FROM deliveries").fetch_one(pool).await);
        n.map(|n| n.max(0) as u64)
            .map_err(|e| self.read_error(WHAT, e))
    }

    /// Grows with every report kept, by any process (the newest report's number): to tell
    /// cheaply whether there are new ones.
    pub async fn delivery_revision(&self) -> Result<i64, HistoryError> {
        let n: Result<i64, sqlx::Error> = on_pool!(&self.db, pool, DB =>
            sqlx::query_scalar::<DB, i64>("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM deliveries")
                .fetch_one(pool)
                .await);
        n.map_err(|e| self.read_error(WHAT, e))
    }
}
