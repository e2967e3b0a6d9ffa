//! Emulated network providers for demos and tests without credentials: every network provider
//! (AWS SNS, Twilio, AWS SES, SendGrid, SMTP) answers from a [`ScriptedProvider`]; the Console
//! provider keeps writing to its log. Nothing here touches the network.

use std::sync::Arc;

use msgops_core::config::{EMAIL_CHAIN, SMS_CHAIN};
use msgops_core::scripted::{ScriptedProvider, Step};
use msgops_core::{Messaging, ProviderKind, SendError};

/// The ids of the network providers, SMS chain first.
pub fn network_provider_ids() -> Vec<ProviderKind> {
    SMS_CHAIN
        .iter()
        .chain(EMAIL_CHAIN.iter())
        .filter(|d| d.id != msgops_core::config::CONSOLE.id)
        .map(|d| d.id)
        .collect()
}

/// The error an emulated failing provider answers with: the incident's 401s.
fn incident_error(id: &ProviderKind) -> SendError {
    match id {
        ProviderKind::Twilio => SendError::authentication(
            "HTTP 401 error: Unable to create record: Authenticate (emulated)",
        )
        .with_code(20003),
        ProviderKind::Smtp => {
            SendError::authentication("535 authentication failed (emulated)").with_code(535)
        }
        _ => SendError::authentication("HTTP 401 Unauthorized (emulated)").with_code(401),
    }
}

/// Installs a scripted provider for every network provider: those in `failing` fail as in the
/// incident (authentication errors), the others deliver at once. Returns them so that tests can
/// count calls.
pub fn install_emulated_providers(
    messaging: &Messaging,
    failing: &[ProviderKind],
) -> Vec<(ProviderKind, Arc<ScriptedProvider>)> {
    network_provider_ids()
        .into_iter()
        .map(|id| {
            let provider = Arc::new(if failing.contains(&id) {
                ScriptedProvider::new([], Step::Fail(incident_error(&id)))
            } else {
                ScriptedProvider::instant()
            });
            let reason = "emulated provider installed (msgops serve --emulated)";
            if !messaging
                .sms
                .set_provider(&id, Some(provider.clone()), reason)
            {
                messaging
                    .email
                    .set_provider(&id, Some(provider.clone()), reason);
            }
            (id, provider)
        })
        .collect()
}
