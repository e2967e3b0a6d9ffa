//! The non-secret settings a `.env` import finds (`AWS_REGION`, `TWILIO_PHONE_NUMBER`,
//! `SMTP_HOST`, ...) as configuration: where each one goes, checked by the configuration's own
//! rules before the import writes anything. One mapping, used by the app (which saves them) and
//! the CLI (which prints them).

use msgops_core::config::{Config, ConfigError, ConfigFile};
use msgops_credentials::import::{ImportedSettings, SettingsError, SettingsTarget};
use msgops_credentials::SettingKind;

/// Writes the settings found into `config`.
pub fn apply_imported(config: &mut Config, found: &ImportedSettings) {
    if let Some(region) = &found.aws_region {
        config.sns.region.clone_from(region);
        config.ses.region.clone_from(region);
    }
    if let Some(number) = &found.twilio_phone_number {
        config.twilio.from_number = Some(number.clone());
    }
    if let Some(host) = &found.smtp_host {
        config.smtp.host = Some(host.clone());
    }
    if let Some(port) = found.smtp_port {
        config.smtp.port = port;
    }
    if let Some(user) = &found.smtp_user {
        config.smtp.username = Some(user.clone());
    }
    if let Some(from) = &found.smtp_from {
        config.smtp.from = Some(from.clone());
    }
}

/// Whether `base` with the settings found still is a configuration msgops accepts.
fn check_against(
    base: &Config,
    found: &ImportedSettings,
    origin: &str,
) -> Result<(), SettingsError> {
    let mut config = base.clone();
    apply_imported(&mut config, found);
    Config::from_toml(&config.to_toml(), origin)
        .map(|_| ())
        .map_err(settings_error)
}

/// A configuration refusal, named by the `.env` setting at fault.
fn settings_error(e: ConfigError) -> SettingsError {
    use SettingKind as K;
    match e {
        ConfigError::Invalid { field, message, .. } => SettingsError::Invalid {
            setting: match field.as_str() {
                "sns.region" | "ses.region" => Some(K::AwsRegion),
                "twilio.from_number" => Some(K::TwilioPhoneNumber),
                "smtp.host" => Some(K::SmtpHost),
                "smtp.port" => Some(K::SmtpPort),
                "smtp.username" => Some(K::SmtpUser),
                "smtp.from" => Some(K::SmtpFrom),
                _ => None,
            },
            message: format!("{field}: {message}"),
        },
        ConfigError::Unreadable { path, message } => SettingsError::Unwritable {
            path: path.into(),
            message,
        },
    }
}

/// The configuration file as the place for a `.env`'s settings (the app): checked by its own
/// rules before the import writes anything, saved after the keychain, put back when a later
/// step fails.
pub struct ConfigFileSettings<'a> {
    file: &'a ConfigFile,
    before: Option<Config>,
}

impl<'a> ConfigFileSettings<'a> {
    pub fn new(file: &'a ConfigFile) -> Self {
        Self { file, before: None }
    }
}

impl SettingsTarget for ConfigFileSettings<'_> {
    fn check(&mut self, found: &ImportedSettings) -> Result<(), SettingsError> {
        check_against(
            &self.file.current(),
            found,
            &self.file.path().display().to_string(),
        )
    }

    fn save(&mut self, found: &ImportedSettings) -> Result<(), SettingsError> {
        let before = self.file.current();
        let mut config = before.clone();
        apply_imported(&mut config, found);
        self.file.save(config).map_err(settings_error)?;
        self.before = Some(before);
        Ok(())
    }

    fn restore(&mut self) -> Result<(), String> {
        match self.before.take() {
            Some(before) => self.file.save(before).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }
}

/// The configuration's rules only (the CLI prints the settings instead of saving them): an
/// import with a setting the configuration would refuse stops before anything is written.
pub struct ConfigRules(pub Config);

impl SettingsTarget for ConfigRules {
    fn check(&mut self, found: &ImportedSettings) -> Result<(), SettingsError> {
        check_against(&self.0, found, "the configuration")
    }

    fn save(&mut self, found: &ImportedSettings) -> Result<(), SettingsError> {
        self.check(found)
    }

    fn restore(&mut self) -> Result<(), String> {
        Ok(())
    }
}
