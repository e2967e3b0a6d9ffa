//! The send history over HTTP, for a console away from the service's host:
//! `GET /api/v1/sends` (one page of sends, newest first, with what the providers reported about
//! them) and `GET /api/v1/sends/summary` (cost per provider per day and failover counts).
//!
//! A send names its recipient, a customer's number or address. A token without the `codes`
//! scope sees every recipient masked (the one masking rule, [`msgops_credentials::mask`]), in
//! the sends, in their delivery reports and in the providers' error texts, and may not filter by
//! recipient (that would let it find out whose numbers are in the history).

use async_trait::async_trait;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use msgops_core::chain::SendOutcome;
use msgops_history::{HistoryFilter, HistoryPage, HistoryStore, HistorySummary};
use serde::Deserialize;

use crate::api::{json_response, ApiError, ApiErrorCode};
use crate::state::ServiceState;
use crate::tokens::{Identity, Scope};

/// Where the service reads its send history from.
#[async_trait]
pub trait SendsSource: Send + Sync {
    /// One page of sends matching `filter`, newest first, with their delivery reports.
    async fn page(&self, filter: HistoryFilter) -> Result<HistoryPage, String>;
    /// The totals over the last `days` days.
    async fn summary(&self, days: u32) -> Result<HistorySummary, String>;
}

/// The history database every msgops process sharing it writes to (SQLite on this machine, or
/// PostgreSQL for several instances), with the delivery reports beside the sends.
#[async_trait]
impl SendsSource for HistoryStore {
    async fn page(&self, filter: HistoryFilter) -> Result<HistoryPage, String> {
        self.query(&filter).await.map_err(|e| e.to_string())
    }

    async fn summary(&self, days: u32) -> Result<HistorySummary, String> {
        HistoryStore::summary(self, days, chrono::Utc::now())
            .await
            .map_err(|e| e.to_string())
    }
}

/// Hides whose sends these are: every recipient masked, in the records, the delivery reports
/// and the error texts.
pub fn mask_recipients(mut page: HistoryPage) -> HistoryPage {
    let mut recipients: Vec<String> = Vec::new();
    for send in &mut page.sends {
        let record = &mut send.record;
        let recipient = std::mem::take(&mut record.recipient);
        let (SendOutcome::Delivered { attempts, .. } | SendOutcome::Failed { attempts, .. }) =
            &mut record.outcome;
        for attempt in attempts {
            if let Some(error) = attempt.error.as_mut() {
                *error = msgops_credentials::mask::scrub(error, [recipient.as_str()]);
            }
        }
        record.recipient = msgops_credentials::mask::mask(&recipient);
        recipients.push(recipient);
    }
    for delivery in &mut page.deliveries {
        for report in &mut delivery.timeline {
            let report = &mut report.report;
            if let Some(r) = report.recipient.take() {
                report.recipient = Some(msgops_credentials::mask::mask(&r));
            }
            if let Some(detail) = report.detail.as_mut() {
                *detail =
                    msgops_credentials::mask::scrub(detail, recipients.iter().map(String::as_str));
            }
        }
    }
    page
}

fn sees_recipients(extensions: &Extensions) -> bool {
    extensions
        .get::<Identity>()
        .is_some_and(|who| who.allows(Scope::Codes))
}

fn unavailable() -> Response {
    ApiError::new(
        ApiErrorCode::HistoryUnavailable,
        "this service keeps no send history",
    )
    .into_response()
}

/// The sends the service's history holds (this service's, and those of every msgops process
/// sharing its history), newest first, one page at a time, with the providers' delivery
/// reports about them. Recipients are masked for tokens without the `codes` scope.
#[utoipa::path(
    get,
    path = "/api/v1/sends",
    tag = "history",
    params(
        ("channel" = Option<crate::doc::Channel>, Query, description = "sms or email"),
        ("provider" = Option<crate::doc::ProviderKind>, Query, description = "Sends this provider was tried for (an attempt or a skip)"),
        ("outcome" = Option<crate::doc::OutcomeFilter>, Query, description = "delivered, failed or failed_over"),
        ("recipient" = Option<String>, Query, description = "Any part of the recipient (spaces, dashes and parentheses ignored); needs the `codes` scope"),
        ("search" = Option<String>, Query, description = "Any part of the recipient or of a provider's message id; needs the `codes` scope"),
        ("origin" = Option<crate::doc::OriginKind>, Query, description = "app or service"),
        ("limit" = Option<u32>, Query, minimum = 0, description = "Page size, at most 1000 (default 100)"),
        ("offset" = Option<u32>, Query, minimum = 0, description = "Sends to skip"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page, newest first", body = crate::doc::HistoryPage),
        (status = 400, description = "An invalid filter", body = ApiError),
        (status = 401, description = "No or wrong bearer token", body = ApiError),
        (status = 403, description = "A recipient filter from a token without the `codes` scope", body = ApiError),
        (status = 503, description = "The service keeps no history, or it could not be read", body = ApiError),
    )
)]
pub(crate) async fn sends(
    State(state): State<ServiceState>,
    query: Result<Query<HistoryFilter>, QueryRejection>,
    extensions: Extensions,
) -> Response {
    let filter = match query {
        Ok(Query(filter)) => filter,
        Err(rejection) => {
            return ApiError::new(ApiErrorCode::Validation, rejection.body_text()).into_response()
        }
    };
    let sees = sees_recipients(&extensions);
    let by_recipient = [&filter.recipient, &filter.search]
        .iter()
        .any(|q| q.as_deref().is_some_and(|q| !q.trim().is_empty()));
    if by_recipient && !sees {
        return ApiError::new(
            ApiErrorCode::Forbidden,
            "searching by recipient needs a token with the `codes` scope",
        )
        .into_response();
    }
    let Some(source) = &state.settings().sends else {
        return unavailable();
    };
    match source.page(filter).await {
        Ok(page) if sees => json_response(StatusCode::OK, &page),
        Ok(page) => json_response(StatusCode::OK, &mask_recipients(page)),
        Err(message) => ApiError::new(ApiErrorCode::HistoryUnavailable, message).into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SummaryQuery {
    days: Option<u32>,
}

/// Cost per provider per day and failover counts over the last `days` days (UTC; default 30,
/// at most 366).
#[utoipa::path(
    get,
    path = "/api/v1/sends/summary",
    tag = "history",
    params(
        ("days" = Option<u32>, Query, minimum = 0, description = "Days back from today, 1 to 366 (default 30)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The totals", body = crate::doc::HistorySummary),
        (status = 400, description = "An invalid number of days", body = ApiError),
        (status = 401, description = "No or wrong bearer token", body = ApiError),
        (status = 503, description = "The service keeps no history, or it could not be read", body = ApiError),
    )
)]
pub(crate) async fn summary(
    State(state): State<ServiceState>,
    query: Result<Query<SummaryQuery>, QueryRejection>,
) -> Response {
    let days = match query {
        Ok(Query(q)) => q.days.unwrap_or(30),
        Err(rejection) => {
            return ApiError::new(ApiErrorCode::Validation, rejection.body_text()).into_response()
        }
    };
    let Some(source) = &state.settings().sends else {
        return unavailable();
    };
    match source.summary(days).await {
        Ok(summary) => json_response(StatusCode::OK, &summary),
        Err(message) => ApiError::new(ApiErrorCode::HistoryUnavailable, message).into_response(),
    }
}
