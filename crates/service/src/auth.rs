//! API bearer tokens: the legacy single token (made here, kept in the OS keychain account
//! `service.api_token`, or $MSGOPS_API_TOKEN), which is `admin`, and the named tokens with
//! scopes of `<data dir>/api-tokens.json` ([`crate::tokens`]). Tokens are compared by their
//! SHA-256, in constant time.
//!
//! This module must never log, serialize or put into an error the token or any part of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use msgops_credentials::{CredentialStore, ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

pub use crate::tokens::Identity;
use crate::tokens::TokenFile;

/// The keychain account holding the token.
pub const TOKEN_ACCOUNT: &str = "service.api_token";

/// Which endpoints need a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScope {
    /// Sends, controls, codes, diagnostics and the event stream (which carries recipients and
    /// codes). Health, metrics and the OpenAPI description stay open for local monitoring. Only
    /// allowed on loopback.
    SendsAndEvents,
    /// Every endpoint: required when listening on anything but loopback.
    Everything,
}

/// The tokens the service accepts, and where they apply.
#[derive(Clone)]
pub struct ApiAuth {
    /// SHA-256 of the legacy single token.
    legacy: Option<[u8; 32]>,
    named: Option<Arc<TokenFile>>,
    scope: AuthScope,
}

impl std::fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiAuth")
            .field("token", &self.legacy.as_ref().map(|_| "[redacted]"))
            .field("token_file", &self.named.as_ref().map(|n| n.path()))
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that is not ours.
    Wrong,
    /// The service has no token at all: nobody can be let in.
    NotConfigured,
}

impl ApiAuth {
    /// The legacy single `token` (admin), if any, guarding `scope`.
    pub fn new(token: Option<SecretString>, scope: AuthScope) -> Self {
        Self {
            legacy: token.map(|t| crate::tokens::hash(t.expose_secret().as_bytes())),
            named: None,
            scope,
        }
    }

    /// No token: sends and events are refused until one is created.
    pub fn none() -> Self {
        Self::new(None, AuthScope::SendsAndEvents)
    }

    /// Accepts the named tokens of `path` too (`<data dir>/api-tokens.json`), re-read whenever
    /// it changes.
    pub fn with_token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.named = Some(Arc::new(TokenFile::new(path)));
        self
    }

    pub fn token_file(&self) -> Option<&Path> {
        self.named.as_deref().map(TokenFile::path)
    }

    pub fn scope(&self) -> AuthScope {
        self.scope
    }

    /// Whether any token can be let in now: the legacy one, or a named one in the file.
    pub fn has_token(&self) -> bool {
        self.legacy.is_some() || self.named.as_deref().is_some_and(|n| n.count() > 0)
    }

    /// Whether every endpoint is guarded by a token (the condition to listen beyond loopback).
    pub fn guards_everything(&self) -> bool {
        self.has_token() && self.scope == AuthScope::Everything
    }

    /// Checks an `Authorization` header value: who it is, or why not. At most one `stat` of
    /// the token file (and a read when it changed).
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<Identity, Refusal> {
        let Some(presented) = authorization.and_then(bearer) else {
            let any = self.legacy.is_some() || self.named.as_deref().is_some_and(|n| n.count() > 0);
            return Err(if any {
                Refusal::Missing
            } else {
                Refusal::NotConfigured
            });
        };
        let hash = crate::tokens::hash(presented);
        let legacy = self
            .legacy
            .as_ref()
            .is_some_and(|expected| bool::from(expected.ct_eq(&hash)));
        let (named, count) = match self.named.as_deref() {
            Some(file) => file.lookup(&hash),
            None => (None, 0),
        };
        if legacy {
            return Ok(Identity::legacy());
        }
        if let Some(who) = named {
            return Ok(who);
        }
        Err(if self.legacy.is_some() || count > 0 {
            Refusal::Wrong
        } else {
            Refusal::NotConfigured
        })
    }
}

/// The token of `Bearer <token>` (scheme case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// A fresh token: `msgops_` and 64 hex digits (256 random bits from the OS).
pub fn new_token() -> Result<SecretString, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let mut token = String::with_capacity(7 + 64);
    token.push_str("msgops_");
    for b in bytes {
        token.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        token.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    Ok(SecretString::from(token))
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the OS could not provide random bytes for a token: {0}")]
    Random(getrandom::Error),
    #[error(transparent)]
    Store(#[from] msgops_credentials::CredentialError),
}

/// Makes a new token and stores it in `store` (replacing any old one). Returns it so that it
/// can be shown once.
pub fn create_token(store: &dyn CredentialStore) -> Result<SecretString, TokenError> {
    let token = new_token().map_err(TokenError::Random)?;
    store.set(TOKEN_ACCOUNT, &token)?;
    Ok(token)
}

/// The stored token; `Ok(None)` when there is none yet.
pub fn load_token(store: &dyn CredentialStore) -> Result<Option<SecretString>, TokenError> {
    Ok(store.get(TOKEN_ACCOUNT)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgops_credentials::MemoryStore;

    #[test]
    fn created_tokens_are_stored_and_accepted() {
        let store = MemoryStore::new();
        let token = create_token(&store).expect("created");
        assert!(token.expose_secret().starts_with("msgops_"));
        assert_eq!(token.expose_secret().len(), 71);
        let loaded = load_token(&store).expect("load").expect("stored");
        let auth = ApiAuth::new(Some(loaded), AuthScope::Everything);
        let header = format!("Bearer {}", token.expose_secret());
        assert_eq!(auth.check(Some(header.as_bytes())), Ok(Identity::legacy()));
        let header = format!("bearer   {} ", token.expose_secret());
        assert_eq!(auth.check(Some(header.as_bytes())), Ok(Identity::legacy()));
    }

    #[test]
    fn missing_wrong_and_unconfigured_tokens_are_told_apart() {
        let auth = ApiAuth::new(Some("msgops_right".into()), AuthScope::SendsAndEvents);
        assert_eq!(auth.check(None), Err(Refusal::Missing));
        assert_eq!(auth.check(Some(b"Basic abc")), Err(Refusal::Missing));
        assert_eq!(auth.check(Some(b"Bearer ")), Err(Refusal::Missing));
        assert_eq!(
            auth.check(Some(b"Bearer msgops_wrong")),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            ApiAuth::none().check(Some(b"Bearer msgops_right")),
            Err(Refusal::NotConfigured)
        );
    }

    #[test]
    fn two_tokens_differ_and_debug_hides_them() {
        let a = new_token().expect("a");
        let b = new_token().expect("b");
        assert_ne!(a.expose_secret(), b.expose_secret());
        let auth = ApiAuth::new(Some(a.clone()), AuthScope::Everything);
        assert!(!format!("{auth:?}").contains(a.expose_secret()));
    }

    #[test]
    fn named_tokens_come_from_the_file_and_the_legacy_one_is_admin() {
        use crate::tokens::{self, Scope};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = tokens::path_in(dir.path());
        let auth = ApiAuth::none().with_token_file(&path);
        assert!(!auth.has_token());
        assert_eq!(
            auth.check(Some(b"Bearer msgops_x")),
            Err(Refusal::NotConfigured)
        );
        let token = tokens::create(
            &path,
            "grafana",
            &[Scope::Read],
            msgops_audit::Actor::local(msgops_audit::Via::Cli),
            false,
        )
        .expect("created");
        assert!(auth.has_token());
        let header = format!("Bearer {}", token.expose_secret());
        let who = auth.check(Some(header.as_bytes())).expect("accepted");
        assert_eq!(who.name, "grafana");
        assert!(who.allows(Scope::Read) && !who.allows(Scope::Codes));
        assert_eq!(auth.check(None), Err(Refusal::Missing));
        assert_eq!(auth.check(Some(b"Bearer msgops_x")), Err(Refusal::Wrong));
        assert!(Identity::legacy().allows(Scope::Admin));
    }

    #[test]
    fn no_store_no_token() {
        assert!(load_token(&MemoryStore::new()).expect("ok").is_none());
    }
}
