//! Delivery truth: what a provider says about a message after it accepted it.
//!
//! - [`DeliveryEvent`]: one status report (from a webhook or a delivery log), named by the
//!   provider's id for the message — the same id the chain keeps per attempt
//!   (`Attempt::provider_message_id`), which is how a report finds its send.
//! - [`DeliveryStatus`]: the statuses of all providers in one vocabulary.
//! - [`meaning`]: a provider's error code in plain words.
//! - [`timeline`] and [`DeliveryRates`]: a send's reports in order, a provider's delivered share.

mod event;
mod meaning;
mod rates;

pub use event::{DeliveryEvent, DeliveryReport, DeliverySource, DeliveryStatus};
pub use meaning::meaning;
pub use rates::{
    final_status, timeline, DeliveryFate, DeliveryRates, MessageDelivery, ProviderDeliveryRate,
};
