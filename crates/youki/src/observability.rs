//! Logging, set up once for every subcommand.
//!
//! Container managers read youki's log: containerd's runc shim passes
//! `--log <file> --log-format json` and, when youki fails, reports the `msg` of
//! the last `"level":"error"` line. The JSON lines therefore use runc's keys
//! (`level`, `msg`, `time`), so that the real reason reaches the user instead of
//! "exit status 1".

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use liboci_cli::GlobalOpts;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, filter::LevelFilter};

use crate::YoukiExtendOpts;

/// Overrides the default level when neither `--log-level` nor `--debug` is given.
const LOG_LEVEL_ENV: &str = "YOUKI_LOG_LEVEL";
const DEFAULT_LOG_LEVEL: Level = Level::ERROR;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

fn log_format(flag: Option<&str>) -> Result<LogFormat> {
    match flag {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => bail!("unknown log format {other:?}: expected text or json"),
    }
}

/// `--log-level` wins over `--debug`, which wins over `$YOUKI_LOG_LEVEL`.
fn log_level(flag: Option<&str>, debug: bool) -> Result<Level> {
    let from_env = std::env::var(LOG_LEVEL_ENV).ok();
    let chosen = match (flag, debug) {
        (Some(level), _) => level,
        (None, true) => "debug",
        (None, false) => match from_env.as_deref() {
            Some(level) => level,
            None => return Ok(DEFAULT_LOG_LEVEL),
        },
    };
    Level::from_str(chosen).map_err(|_| {
        anyhow::anyhow!("unknown log level {chosen:?}: expected error, warn, info, debug or trace")
    })
}

/// Whether log lines go to standard error, where youki also prints its errors.
static LOGS_ON_STDERR: AtomicBool = AtomicBool::new(true);

pub fn logs_on_stderr() -> bool {
    LOGS_ON_STDERR.load(Ordering::Relaxed)
}

/// Set once a process stops logging for good (see [`end`]).
static LOGGING_ENDED: AtomicBool = AtomicBool::new(false);

/// Stops logging in this process for good. A Wasm container's init calls it
/// before it closes youki's file descriptors and hands the process to the
/// guest: from then on the log file's descriptor is gone, its number may be
/// reused by a file of the guest, and stderr belongs to the guest.
#[cfg_attr(not(any_wasm_engine), allow(dead_code))]
pub fn end() {
    LOGGING_ENDED.store(true, Ordering::SeqCst);
}

pub fn init(global: &GlobalOpts, extend: &YoukiExtendOpts) -> Result<()> {
    LOGS_ON_STDERR.store(
        global.log.is_none() && !extend.systemd_log,
        Ordering::Relaxed,
    );
    let level = LevelFilter::from_level(log_level(extend.log_level.as_deref(), global.debug)?);
    let format = log_format(global.log_format.as_deref())?;

    let layer = if extend.systemd_log {
        tracing_journald::layer()
            .context("failed to connect to the systemd journal")?
            .with_syslog_identifier("youki".to_owned())
            .boxed()
    } else {
        let writer = match &global.log {
            Some(path) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("failed to open log file {}", path.display()))?;
                BoxMakeWriter::new(Mutex::new(file))
            }
            None => BoxMakeWriter::new(std::io::stderr),
        };
        let fmt = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(writer);
        match format {
            LogFormat::Text => fmt.boxed(),
            LogFormat::Json => fmt.event_format(RuncJson).boxed(),
        }
    };

    let not_ended =
        tracing_subscriber::filter::filter_fn(|_| !LOGGING_ENDED.load(Ordering::SeqCst));
    tracing_subscriber::registry()
        .with(layer.with_filter(level).with_filter(not_ended))
        .try_init()
        .context("failed to install the log subscriber")
}

/// One JSON object per line with runc's keys: level, msg, time.
struct RuncJson;

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl<S, N> FormatEvent<S, N> for RuncJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let line = serde_json::json!({
            "level": event.metadata().level().as_str().to_lowercase(),
            "msg": format!("{}{}", visitor.message, visitor.fields),
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        writeln!(writer, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use serial_test::serial;

    use super::*;

    #[test]
    fn formats() {
        assert_eq!(log_format(None).unwrap(), LogFormat::Text);
        assert_eq!(log_format(Some("json")).unwrap(), LogFormat::Json);
        let err = log_format(Some("xml")).unwrap_err().to_string();
        assert!(err.contains("unknown log format \"xml\""), "{err}");
    }

    #[test]
    #[serial]
    fn level_precedence() {
        // SAFETY of set_var/remove_var: these tests run serially and start no threads.
        unsafe { std::env::remove_var(LOG_LEVEL_ENV) };
        assert_eq!(log_level(None, false).unwrap(), DEFAULT_LOG_LEVEL);
        assert_eq!(log_level(None, true).unwrap(), Level::DEBUG);
        assert_eq!(log_level(Some("warn"), true).unwrap(), Level::WARN);
        unsafe { std::env::set_var(LOG_LEVEL_ENV, "info") };
        assert_eq!(log_level(None, false).unwrap(), Level::INFO);
        unsafe { std::env::remove_var(LOG_LEVEL_ENV) };
        assert!(log_level(Some("loud"), false).is_err());
    }
}
