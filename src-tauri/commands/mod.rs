//! Tauri commands, one module per area. Each command checks its input and calls a library crate
//! once; none returns a secret.

pub mod chain;
pub mod connections;
pub mod credentials;
pub mod desktop;
pub mod history;
pub mod logs;
pub mod settings;
