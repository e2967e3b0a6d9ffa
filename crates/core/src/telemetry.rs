//! Logging set-up shared by the app and the CLI: `tracing` to stderr and, for the app, to a
//! daily-rotated file in the data directory (seven files kept). Secrets cannot reach it: they are
//! only ever held in `secrecy::SecretString`, whose `Debug` prints a placeholder.

use std::path::Path;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

/// Keeps the file writer flushing; drop it last.
pub struct LogGuard {
    _flusher: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Log targets of dependencies that print credentials at DEBUG/TRACE (the AWS SDK dumps the
/// resolved identity, access key ID included, and the signing request). They are capped at
/// INFO whatever `MSGOPS_LOG` asks for.
pub const SECRET_BEARING_TARGETS: [&str; 7] = [
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_sigv4",
    "aws_runtime",
    "aws_config",
    "aws_credential_types",
    "lettre",
];

/// `filter` with [`SECRET_BEARING_TARGETS`] capped at INFO.
pub fn cap_secret_bearing_targets(mut filter: EnvFilter) -> EnvFilter {
    for target in SECRET_BEARING_TARGETS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

fn filter() -> EnvFilter {
    cap_secret_bearing_targets(
        EnvFilter::try_from_env("MSGOPS_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
    )
}

/// stderr only (the CLI).
pub fn init_stderr() {
    let _ = tracing_subscriber::registry()
        .with(filter())
        .with(fmt::layer().with_writer(std::io::stderr))
        .try_init();
}

/// stderr plus `<log_dir>/msgops.log.YYYY-MM-DD` (the app).
pub fn init_with_file(log_dir: &Path) -> LogGuard {
    // The appender prunes old files by listing the directory: it must exist first.
    let _ = std::fs::create_dir_all(log_dir);
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("msgops.log")
        .max_log_files(7)
        .build(log_dir);
    match appender {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let _ = tracing_subscriber::registry()
                .with(filter())
                .with(fmt::layer().with_writer(std::io::stderr))
                .with(fmt::layer().with_ansi(false).with_writer(writer))
                .try_init();
            LogGuard {
                _flusher: Some(guard),
            }
        }
        Err(e) => {
            init_stderr();
            tracing::warn!(dir = %log_dir.display(), error = %e, "cannot write log files; logging to stderr only");
            LogGuard { _flusher: None }
        }
    }
}
