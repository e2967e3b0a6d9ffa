//! `msgops creds`: provider secrets in the configured credential store (`[credentials] store`:
//! the OS keychain, AWS Secrets Manager or systemd credentials) — list, import from a `.env`,
//! rotate (validated against the provider first), remove. Prints masked values only, and never takes
//! a secret from the command line (it would show in `ps` and the shell history): rotate reads
//! new values from stdin (`KEY=value` lines) or prompts without echo on a terminal.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use msgops_audit::{Actor, Via};
use msgops_credentials::{
    apply_import_with_settings, check_keychain, credential_statuses, preview_import,
    remove_provider, rotate, AuditLog, CredentialError, CredentialProvider, CredentialSet,
    CredentialState, CredentialStore, CredentialValidator, ImportOptions, SecretKind, SecretString,
};

#[derive(Args)]
pub struct CredsArgs {
    /// Audit trail file (default: msgops' data directory).
    #[arg(long, global = true, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    #[command(subcommand)]
    command: CredsCommand,
}

#[derive(Subcommand)]
pub enum CredsCommand {
    /// Say which credential store is configured, check it, and show which secrets are stored,
    /// masked.
    List,
    /// Move the secrets of a backend `.env` into the credential store.
    Import {
        /// The `.env` file.
        file: PathBuf,
        /// Rewrite the file without the imported secrets (atomically; other lines untouched).
        #[arg(long)]
        rewrite: bool,
        /// Replace keychain values that differ from the file's (default: keep the keychain's).
        #[arg(long)]
        replace_existing: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Replace a provider's secrets after the provider accepted the new ones. New values come
    /// from stdin as KEY=value lines (e.g. TWILIO_AUTH_TOKEN=...), or are prompted for.
    Rotate {
        /// aws, twilio, sendgrid or smtp.
        provider: String,
        /// Twilio API base URL (default: the configuration's, normally https://api.twilio.com).
        #[arg(long)]
        twilio_base_url: Option<String>,
        /// SendGrid API base URL (default: the configuration's).
        #[arg(long)]
        sendgrid_base_url: Option<String>,
    },
    /// Delete a provider's secrets from the credential store.
    Remove {
        /// aws, twilio, sendgrid or smtp.
        provider: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Store a webhook verification key with a provider's credentials: SendGrid's Event
    /// Webhook verification key (base64, as SendGrid shows it), read from stdin.
    WebhookKey {
        /// sendgrid (the only provider whose webhooks are verified with a stored public key).
        provider: String,
    },
    /// Print the audit trail of imports, rotations, refused validations, removals and token
    /// creations, with who did each, from where and through what.
    Audit {
        /// One JSON object per line, as stored.
        #[arg(long)]
        json: bool,
    },
}

/// Terminal I/O for one command, replaceable in tests.
pub struct Io<'a> {
    pub input: &'a mut dyn BufRead,
    pub out: &'a mut dyn Write,
    /// True when input is a terminal: prompts without echo instead of reading KEY=value lines.
    pub interactive: bool,
}

pub fn run(args: CredsArgs) -> ExitCode {
    let audit = AuditLog::new(args.audit_log.clone().unwrap_or_else(default_audit_path))
        .by(Actor::local(Via::Cli));
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut stdout = std::io::stdout();
    let mut io = Io {
        input: &mut input,
        out: &mut stdout,
        interactive,
    };
    let result = if let CredsCommand::Audit { json } = args.command {
        print_audit(&audit, json, io.out)
    } else {
        // The store the configuration names (the OS keychain unless `[credentials] store`
        // says otherwise); never another one in its place.
        let (file, error) =
            msgops_core::config::ConfigFile::open(msgops_core::config::config_path());
        if let Some(e) = error {
            eprintln!("msgops: {e}; running on the default configuration");
        }
        match msgops_providers::open_store(&file.current()) {
            Ok(store) => run_with(args.command, store.as_ref(), &audit, None, &mut io),
            Err(e) => Err(e.into()),
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<CredentialError>() {
                Some(c) => eprintln!("error [{}]: {c}", c.code().as_str()),
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// The same audit trail the desktop app writes and shows.
pub(crate) fn default_audit_path() -> PathBuf {
    AuditLog::in_dir(&msgops_core::config::data_dir())
        .path()
        .to_path_buf()
}

/// Runs one command against `store`. `validator` overrides the built-in HTTP validator.
pub fn run_with(
    command: CredsCommand,
    store: &dyn CredentialStore,
    audit: &AuditLog,
    validator: Option<&dyn CredentialValidator>,
    io: &mut Io<'_>,
) -> anyhow::Result<()> {
    match command {
        CredsCommand::List => list(store, io.out),
        CredsCommand::Import {
            file,
            rewrite,
            replace_existing,
            yes,
        } => import(store, audit, &file, rewrite, replace_existing, yes, io),
        CredsCommand::Rotate {
            provider,
            twilio_base_url,
            sendgrid_base_url,
        } => {
            let provider: CredentialProvider = provider.parse()?;
            let built;
            let validator = match validator {
                Some(v) => v,
                None => {
                    // Every provider is validated against itself: Twilio and SendGrid over
                    // HTTP, AWS through SNS, SMTP by logging in — with the configured endpoints.
                    let (file, _) =
                        msgops_core::config::ConfigFile::open(msgops_core::config::config_path());
                    let mut config = file.current();
                    if let Some(url) = twilio_base_url {
                        config.twilio.base_url = url;
                    }
                    if let Some(url) = sendgrid_base_url {
                        config.sendgrid.base_url = url;
                    }
                    built = msgops_providers::ProviderValidator::from_config(
                        &config,
                        msgops_providers::Timeouts::default(),
                    )
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                    &built
                }
            };
            rotate_cmd(store, audit, provider, validator, io)
        }
        CredsCommand::WebhookKey { provider } => {
            let provider: CredentialProvider = provider.parse()?;
            if provider != CredentialProvider::Sendgrid {
                anyhow::bail!(
                    "only SendGrid's webhooks are verified with a stored key; {provider}'s are verified with its credentials or certificates"
                );
            }
            if io.interactive {
                writeln!(
                    io.out,
                    "Paste SendGrid's Event Webhook verification key, then Enter:"
                )?;
            }
            let mut key = String::new();
            io.input.read_line(&mut key)?;
            msgops_credentials::set_sendgrid_webhook_key(
                store,
                audit,
                &key,
                msgops_webhooks::sendgrid::check_public_key,
            )?;
            writeln!(
                io.out,
                "SendGrid Event Webhook verification key stored in {}.",
                store.describe()
            )?;
            Ok(())
        }
        CredsCommand::Remove { provider, yes } => {
            let provider: CredentialProvider = provider.parse()?;
            if !yes
                && !confirm(
                    io,
                    &format!("Delete all {provider} secrets from {}?", store.describe()),
                )?
            {
                writeln!(io.out, "Nothing removed.")?;
                return Ok(());
            }
            let removed = remove_provider(store, audit, provider)?;
            if removed.is_empty() {
                writeln!(io.out, "No {provider} secrets were stored.")?;
            }
            for kind in removed {
                writeln!(io.out, "Removed {}.", kind.env_var())?;
            }
            Ok(())
        }
        CredsCommand::Audit { json } => print_audit(audit, json, io.out),
    }
}

fn list(store: &dyn CredentialStore, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "Credential store: {}", store.describe())?;
    let health = check_keychain(store);
    writeln!(out, "  {}", health.message)?;
    if !health.ok {
        bail!("the credential store is not usable");
    }
    for status in credential_statuses(store, &[])? {
        let state = match status.state {
            CredentialState::Stored => "stored",
            CredentialState::Partial => "partial",
            CredentialState::Missing => "missing",
            CredentialState::Invalid => "invalid",
            CredentialState::Disabled => "disabled",
        };
        writeln!(out, "{:<9} {state}", status.provider.as_str())?;
        if let Some(problem) = &status.problem {
            writeln!(out, "  {problem}")?;
        }
        for field in status.fields {
            let value = field.masked.as_deref().unwrap_or("(not stored)");
            writeln!(out, "  {:<22} {value}", field.env_var)?;
        }
    }
    Ok(())
}

fn import(
    store: &dyn CredentialStore,
    audit: &AuditLog,
    file: &std::path::Path,
    rewrite: bool,
    replace_existing: bool,
    yes: bool,
    io: &mut Io<'_>,
) -> anyhow::Result<()> {
    let plan = preview_import(file, Some(store))?;
    let p = &plan.preview;
    let out = &mut *io.out;
    writeln!(out, "{}:", p.file)?;
    for s in &p.secrets {
        let note = match s.keychain {
            msgops_credentials::import::KeychainComparison::Missing => "new",
            msgops_credentials::import::KeychainComparison::Identical => "already in keychain",
            msgops_credentials::import::KeychainComparison::Different => {
                "keychain holds a different value"
            }
            msgops_credentials::import::KeychainComparison::Unknown => "keychain not checked",
        };
        writeln!(
            out,
            "  secret   line {:>3}  {:<22} {}  ({note})",
            s.line, s.env_var, s.masked
        )?;
    }
    for s in &p.settings {
        writeln!(
            out,
            "  setting  line {:>3}  {:<22} {}",
            s.line, s.env_var, s.value
        )?;
    }
    for b in &p.blank {
        writeln!(
            out,
            "  blank    line {:>3}  {} (not stored)",
            b.line, b.name
        )?;
    }
    for d in &p.duplicates {
        let lines: Vec<String> = d.lines.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "  duplicate {} on lines {}; line {} is used",
            d.name,
            lines.join(", "),
            d.used_line
        )?;
    }
    for u in &p.unknown {
        writeln!(
            out,
            "  unknown  line {:>3}  {} (left as is)",
            u.line, u.name
        )?;
    }
    for m in &p.malformed {
        let name = m.name.as_deref().unwrap_or("?");
        writeln!(
            out,
            "  malformed line {:>3} {name}: {} (left as is)",
            m.line, m.reason
        )?;
    }
    for x in p.expanded.iter().flatten() {
        let from_file: Vec<String> = x
            .from_file
            .iter()
            .map(|r| format!("{} (line {})", r.name, r.line))
            .collect();
        let mut parts = Vec::new();
        if !from_file.is_empty() {
            parts.push(format!("uses {}", from_file.join(", ")));
        }
        if !x.from_environment.is_empty() {
            parts.push(format!(
                "needs {} from the backend's environment (not imported)",
                x.from_environment.join(", ")
            ));
        }
        writeln!(
            out,
            "  expanded line {:>3}  {}: {}",
            x.line,
            x.name,
            parts.join("; ")
        )?;
    }
    if let Some(e) = &p.keychain_error {
        writeln!(out, "  keychain: {e}")?;
    }
    if !plan.has_secrets() {
        writeln!(out, "No secrets to import.")?;
        return Ok(());
    }
    let question = if rewrite {
        format!(
            "Store {} secret(s) in {} and remove them from {}?",
            p.secrets.len(),
            store.describe(),
            p.file
        )
    } else {
        format!(
            "Store {} secret(s) in {}?",
            p.secrets.len(),
            store.describe()
        )
    };
    if !yes && !confirm(io, &question)? {
        writeln!(io.out, "Nothing imported.")?;
        return Ok(());
    }
    let report = apply_import_with_settings(
        store,
        audit,
        &plan,
        &ImportOptions {
            rewrite,
            replace_existing,
            ..ImportOptions::default()
        },
        &mut msgops_settings::env_import::ConfigRules(
            msgops_core::config::ConfigFile::open(msgops_core::config::config_path())
                .0
                .current(),
        ),
    )?;
    let out = &mut *io.out;
    let names = |kinds: &[SecretKind]| {
        kinds
            .iter()
            .map(|k| k.env_var())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !report.stored.is_empty() {
        writeln!(out, "Stored: {}", names(&report.stored))?;
    }
    if !report.unchanged.is_empty() {
        writeln!(out, "Already stored: {}", names(&report.unchanged))?;
    }
    if !report.kept_existing.is_empty() {
        writeln!(
            out,
            "Kept the keychain's different value of: {} (use --replace-existing to take the file's)",
            names(&report.kept_existing)
        )?;
    }
    if report.rewritten {
        let lines: Vec<String> = report
            .removed_lines
            .iter()
            .map(ToString::to_string)
            .collect();
        writeln!(
            out,
            "Rewrote {}: lines {} now comments.",
            p.file,
            lines.join(", ")
        )?;
    }
    if let Some(warning) = &report.rewrite_warning {
        writeln!(out, "Warning: {warning}.")?;
    }
    if !report.settings.is_empty() {
        writeln!(
            out,
            "Settings for the config file: {}",
            serde_json::to_string(&report.settings)?
        )?;
    }
    Ok(())
}

fn rotate_cmd(
    store: &dyn CredentialStore,
    audit: &AuditLog,
    provider: CredentialProvider,
    validator: &dyn CredentialValidator,
    io: &mut Io<'_>,
) -> anyhow::Result<()> {
    let values = if io.interactive {
        prompt_values(provider)?
    } else {
        read_values(provider, io.input)?
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(rotate(store, audit, values, validator))?;
    for (kind, masked) in &report.masked {
        writeln!(
            io.out,
            "{provider} accepted the new {}; stored {masked}.",
            kind.env_var()
        )?;
    }
    Ok(())
}

fn prompt_values(provider: CredentialProvider) -> anyhow::Result<CredentialSet> {
    let mut set = CredentialSet::new(provider);
    for &kind in provider.secrets() {
        let value = rpassword::prompt_password(format!(
            "New {} (Enter keeps the current one): ",
            kind.label()
        ))?;
        if !value.trim().is_empty() {
            set.insert(kind, SecretString::from(value))?;
        }
    }
    Ok(set)
}

/// `KEY=value` lines; KEY is the `.env` name or the keychain account. Blank lines and `#`
/// comments are skipped. Errors name the line, never echo its value.
fn read_values(
    provider: CredentialProvider,
    input: &mut dyn BufRead,
) -> anyhow::Result<CredentialSet> {
    let mut set = CredentialSet::new(provider);
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        number += 1;
        let text = line.trim_end_matches(['\r', '\n']);
        if text.trim().is_empty() || text.trim_start().starts_with('#') {
            continue;
        }
        let Some((key, value)) = text.split_once('=') else {
            bail!("stdin line {number}: expected KEY=value");
        };
        let Some(kind) = SecretKind::from_name(key) else {
            bail!("stdin line {number}: unknown name {:?}", key.trim());
        };
        set.insert(kind, SecretString::from(value.to_owned()))?;
    }
    line.clear();
    if set.is_empty() {
        bail!(
            "no new values on stdin; give e.g. {}=... (one per line)",
            provider.secrets()[0].env_var()
        );
    }
    Ok(set)
}

fn confirm(io: &mut Io<'_>, question: &str) -> anyhow::Result<bool> {
    write!(io.out, "{question} [y/N] ")?;
    io.out.flush()?;
    let mut answer = String::new();
    io.input.read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

fn print_audit(audit: &AuditLog, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    for e in audit.read_all()? {
        if json {
            writeln!(out, "{}", serde_json::to_string(&e)?)?;
            continue;
        }
        let provider = e.provider.map(|p| p.as_str()).unwrap_or("-");
        let actor = e
            .actor
            .as_ref()
            .map_or_else(|| "-".to_string(), Actor::describe);
        writeln!(
            out,
            "{} {provider:<8} {:<17} {:<7} {actor} {}",
            e.timestamp.format("%Y-%m-%d %H:%M:%S"),
            serde_json::to_value(e.action)?.as_str().unwrap_or_default(),
            serde_json::to_value(e.outcome)?
                .as_str()
                .unwrap_or_default(),
            e.message
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgops_credentials::rotate::ValidationFailure;
    use msgops_credentials::{CredentialStoreExt, ExposeSecret, MemoryStore};
    use std::sync::{Arc, Mutex};

    const SID: &str = "ACtest0000000000000000000000sid01";
    const OLD: &str = "oldtoken-test-0000000000000000aa";
    const NEW: &str = "newtoken-test-0000000000000000bb";
    const BAD: &str = "badtoken-test-0000000000000000cc";
    const SG: &str = "SG.test-cli-key-not-real-0001";
    const SMTP: &str = "smtp-app-password-test-0000";

    /// Accepts the NEW token only, answering like Twilio otherwise.
    struct ScriptedTwilio;

    #[async_trait::async_trait]
    impl CredentialValidator for ScriptedTwilio {
        async fn validate(&self, c: &CredentialSet) -> Result<(), ValidationFailure> {
            if c.expose(SecretKind::TwilioAuthToken) == Some(NEW) {
                Ok(())
            } else {
                Err(ValidationFailure::rejected(
                    "HTTP 401, Twilio error 20003: Authenticate",
                ))
            }
        }
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Capture {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
        }
    }

    fn run_cli(
        command: CredsCommand,
        store: &MemoryStore,
        audit: &AuditLog,
        stdin: &str,
        out: &mut Capture,
    ) -> anyhow::Result<()> {
        let mut input = std::io::Cursor::new(stdin.as_bytes().to_vec());
        let mut io = Io {
            input: &mut input,
            out,
            interactive: false,
        };
        run_with(command, store, audit, Some(&ScriptedTwilio), &mut io)
    }

    #[test]
    fn cli_import_rotate_list_and_remove_never_print_or_log_a_secret() {
        let logs = Capture::default();
        let log_writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || log_writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let dir = tempfile::tempdir().expect("tempdir");
        let env = dir.path().join(".env");
        std::fs::write(
            &env,
            format!("TWILIO_ACCOUNT_SID={SID}\r\nexport TWILIO_AUTH_TOKEN=\"{OLD}\"\r\nSENDGRID_API_KEY={SG}\r\nSMTP_PASSWORD='{SMTP}'\r\nSMTP_HOST=smtp.example.com\r\n"),
        )
        .expect("env");
        let store = MemoryStore::new();
        let audit = AuditLog::new(dir.path().join("audit.jsonl"));
        let mut out = Capture::default();

        let import = CredsCommand::Import {
            file: env.clone(),
            rewrite: true,
            replace_existing: false,
            yes: false,
        };
        run_cli(import, &store, &audit, "y\n", &mut out).expect("import");
        assert!(
            out.text().contains("Stored: TWILIO_ACCOUNT_SID"),
            "{}",
            out.text()
        );
        assert!(out.text().contains("••••••••00aa"), "{}", out.text());

        let bad = format!("TWILIO_AUTH_TOKEN={BAD}\n");
        let rotate = || CredsCommand::Rotate {
            provider: "twilio".into(),
            twilio_base_url: None,
            sendgrid_base_url: None,
        };
        let err = run_cli(rotate(), &store, &audit, &bad, &mut out).expect_err("refused");
        let err_text = format!("{err:#} {err:?}");
        assert!(err_text.contains("20003"), "{err_text}");
        let kept = store
            .get_secret(SecretKind::TwilioAuthToken)
            .expect("get")
            .expect("some");
        assert_eq!(kept.expose_secret(), OLD);

        let good = format!("# new token\ntwilio.auth_token={NEW}\n");
        run_cli(rotate(), &store, &audit, &good, &mut out).expect("rotate");
        assert!(out.text().contains("stored ••••••••00bb"), "{}", out.text());

        run_cli(CredsCommand::List, &store, &audit, "", &mut out)
            .expect_err("memory store is not a keychain");
        let remove = CredsCommand::Remove {
            provider: "sendgrid".into(),
            yes: true,
        };
        run_cli(remove, &store, &audit, "", &mut out).expect("remove");
        run_cli(
            CredsCommand::Audit { json: false },
            &store,
            &audit,
            "",
            &mut out,
        )
        .expect("audit");
        assert!(out.text().contains("validation_failed"), "{}", out.text());

        let everything = format!(
            "{}\n{}\n{err_text}\n{}\n{}",
            out.text(),
            logs.text(),
            std::fs::read_to_string(audit.path()).expect("audit"),
            std::fs::read_to_string(&env).expect("env"),
        );
        for secret in [SID, OLD, NEW, BAD, SG, SMTP] {
            assert!(
                !everything.contains(secret),
                "{} leaked into CLI output, logs, audit or .env",
                msgops_credentials::mask(secret)
            );
        }
    }

    #[test]
    fn rotate_refuses_unknown_names_without_echoing_the_value() {
        let err = read_values(
            CredentialProvider::Twilio,
            &mut std::io::Cursor::new(format!("TWILIO_TOKEN={NEW}\n")),
        )
        .expect_err("unknown");
        assert!(err.to_string().contains("line 1"));
        assert!(!err.to_string().contains(NEW));
    }

    #[test]
    fn declining_the_confirmation_imports_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = dir.path().join(".env");
        std::fs::write(&env, format!("SENDGRID_API_KEY={SG}\n")).expect("env");
        let store = MemoryStore::new();
        let audit = AuditLog::new(dir.path().join("audit.jsonl"));
        let mut out = Capture::default();
        let import = CredsCommand::Import {
            file: env,
            rewrite: true,
            replace_existing: false,
            yes: false,
        };
        run_cli(import, &store, &audit, "\n", &mut out).expect("declined");
        assert!(store.accounts().is_empty());
        assert!(out.text().contains("Nothing imported."));
    }

    #[test]
    fn a_sender_number_the_configuration_refuses_stops_the_import_before_any_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = dir.path().join(".env");
        let text = |number: &str| {
            format!(
                "TWILIO_ACCOUNT_SID={SID}\nTWILIO_AUTH_TOKEN={OLD}\nTWILIO_PHONE_NUMBER={number}\n"
            )
        };
        std::fs::write(&env, text("4165550100")).expect("env");
        let store = MemoryStore::new();
        let audit = AuditLog::new(dir.path().join("audit.jsonl"));
        let mut out = Capture::default();
        let import = || CredsCommand::Import {
            file: env.clone(),
            rewrite: true,
            replace_existing: false,
            yes: true,
        };
        let err = run_cli(import(), &store, &audit, "", &mut out).expect_err("not E.164");
        let message = format!("{err:#}");
        assert!(
            message.contains("TWILIO_PHONE_NUMBER on line 3") && message.contains("E.164"),
            "{message}"
        );
        assert!(store.accounts().is_empty(), "nothing in the keychain");
        assert_eq!(
            std::fs::read_to_string(&env).expect("env"),
            text("4165550100")
        );

        std::fs::write(&env, text("+14165550100")).expect("fixed");
        run_cli(import(), &store, &audit, "", &mut out).expect("retry");
        assert!(
            out.text()
                .contains("Stored: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN"),
            "{}",
            out.text()
        );
        let after = std::fs::read_to_string(&env).expect("env");
        assert!(!after.contains(OLD) && after.contains("TWILIO_PHONE_NUMBER=+14165550100"));
    }

    #[test]
    fn the_preview_names_values_that_need_the_backends_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = dir.path().join(".env");
        std::fs::write(
            &env,
            format!("SENDGRID_API_KEY=${{SG_FROM_VAULT}}\nSMTP_PASSWORD='{SMTP}'\n"),
        )
        .expect("env");
        let store = MemoryStore::new();
        let audit = AuditLog::new(dir.path().join("audit.jsonl"));
        let mut out = Capture::default();
        let import = CredsCommand::Import {
            file: env,
            rewrite: false,
            replace_existing: false,
            yes: true,
        };
        run_cli(import, &store, &audit, "", &mut out).expect("import");
        assert!(
            out.text().contains("SENDGRID_API_KEY: needs SG_FROM_VAULT from the backend's environment (not imported)"),
            "{}",
            out.text()
        );
        assert_eq!(store.accounts(), vec!["smtp.password".to_owned()]);
    }
}
