//! Errors as they cross IPC: always `{code, message}`. The window branches on `code` and shows
//! `message`. Messages never carry a secret.

use serde::Serialize;
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum IpcErrorCode {
    Validation,
    NotFound,
    Config,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[error("{message}")]
#[ts(export)]
pub struct IpcError {
    pub code: IpcErrorCode,
    pub message: String,
}

impl IpcError {
    pub fn validation(message: impl Into<String>) -> Self {
        Self { code: IpcErrorCode::Validation, message: message.into() }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self { code: IpcErrorCode::NotFound, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crosses_ipc_as_code_and_message() {
        let json = serde_json::to_value(IpcError::validation("`+1416` is not an E.164 number")).expect("json");
        assert_eq!(json, serde_json::json!({"code": "validation", "message": "`+1416` is not an E.164 number"}));
    }
}
