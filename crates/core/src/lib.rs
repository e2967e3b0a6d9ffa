//! msgops core: the provider chain and everything it needs to decide where a message goes —
//! provider interfaces, circuit breakers, rate limits, cost, health snapshots and configuration.
//!
//! This crate knows nothing of Tauri, HTTP servers or the OS keychain. It never logs a secret:
//! provider credentials reach it only inside `secrecy::SecretString`.

pub mod breaker;
pub mod breaker_sync;
pub mod chain;
pub mod config;
pub mod console;
pub mod error;
pub mod health;
pub mod message;
pub mod messaging;
pub mod provider;
pub mod rate_limit;
pub mod scripted;
pub mod telemetry;

pub use breaker::{BreakerState, CircuitBreaker, Transition};
pub use breaker_sync::{BreakerSync, RemoteTransition};
pub use chain::{
    Attempt, AttemptOutcome, ChainEvent, ProviderChain, SendOutcome, Skip, SkipReason,
};
pub use error::{ErrorKind, SendError};
pub use message::{Channel, EmailMessage, SmsMessage};
pub use messaging::{Control, ControlOutcome, Messaging};
pub use provider::{CredentialRefresh, Provider, ProviderKind, Receipt};
pub use rate_limit::RateLimiter;
