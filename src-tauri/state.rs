//! What the shell holds for the life of the process.

use std::sync::Arc;

use msgops_core::config::ConfigFile;
use msgops_core::Messaging;

pub struct AppState {
    pub config: ConfigFile,
    /// Why the configuration file could not be used at start-up (running on defaults).
    pub config_error: Option<String>,
    pub messaging: Arc<Messaging>,
}

impl AppState {
    pub fn load() -> Self {
        let (config, error) = ConfigFile::open(msgops_core::config::config_path());
        if let Some(e) = &error {
            tracing::error!(error = %e, "configuration file ignored; running on defaults");
        }
        let messaging = Arc::new(Messaging::from_config(&config.current()));
        Self { config, config_error: error.map(|e| e.to_string()), messaging }
    }
}
