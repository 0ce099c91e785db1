//! The binary's logger. The library never prints; it reports through the `log` facade, and this
//! turns each record into one stderr line, `ringshot: warning: ...`, the same shape as the CLI's
//! own `ringshot: error: ...` lines.
//!
//! Level: warnings and errors by default, `-v` adds info, `-vv` debug, `-vvv` trace.
//! `RINGSHOT_LOG` takes env_logger's filter syntax (`debug`, `ringshot::flow=trace,warn`) and
//! overrides `-v` for whatever it names.

use std::io::Write;

use log::{Level, LevelFilter};

/// The environment variable that sets the log filter.
pub const ENV: &str = "RINGSHOT_LOG";

/// The level `-v` given `verbose` times selects.
fn level_for(verbose: u8) -> LevelFilter {
    match verbose {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// How a level reads in a line, matching the CLI's `ringshot: error:` prefix.
fn level_word(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// One log line, without its newline.
fn line(level: Level, message: &std::fmt::Arguments<'_>) -> String {
    format!("ringshot: {}: {message}", level_word(level))
}

/// The logger for `-v` given `verbose` times and the filter `env` (the value of [`ENV`]).
fn logger(verbose: u8, env: Option<&str>) -> env_logger::Logger {
    let mut b = env_logger::Builder::new();
    b.filter_level(level_for(verbose))
        .target(env_logger::Target::Stderr)
        .format(|buf, record| writeln!(buf, "{}", line(record.level(), record.args())));
    if let Some(filters) = env.filter(|f| !f.trim().is_empty()) {
        b.parse_filters(filters);
    }
    b.build()
}

/// Installs the logger; called once, before any library code runs.
pub fn init(verbose: u8) {
    let env = std::env::var(ENV).ok();
    let logger = logger(verbose, env.as_deref());
    log::set_max_level(logger.filter());
    // Only fails if a logger is already installed, which leaves that one in charge.
    let _ = log::set_boxed_logger(Box::new(logger));
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::{Log, Metadata};

    fn enabled(l: &env_logger::Logger, level: Level, target: &str) -> bool {
        l.enabled(&Metadata::builder().level(level).target(target).build())
    }

    #[test]
    fn warnings_by_default_and_more_with_each_v() {
        let quiet = logger(0, None);
        assert!(enabled(&quiet, Level::Warn, "ringshot::engine"));
        assert!(enabled(&quiet, Level::Error, "ringshot::engine"));
        assert!(!enabled(&quiet, Level::Info, "ringshot::engine"));
        let v = logger(1, None);
        assert!(enabled(&v, Level::Info, "ringshot::engine"));
        assert!(!enabled(&v, Level::Debug, "ringshot::engine"));
        assert!(enabled(&logger(2, None), Level::Debug, "ringshot::sys"));
        assert!(enabled(&logger(9, None), Level::Trace, "ringshot::sys"));
    }

    #[test]
    fn the_environment_filter_overrides_v() {
        let l = logger(0, Some("ringshot::flow=trace"));
        assert!(enabled(&l, Level::Trace, "ringshot::flow::ack_core"));
        assert!(!enabled(&l, Level::Info, "ringshot::engine"));
        assert!(enabled(&l, Level::Warn, "ringshot::engine"));
        let l = logger(2, Some("error"));
        assert!(!enabled(&l, Level::Warn, "ringshot::engine"));
        // An empty variable changes nothing.
        assert!(enabled(&logger(0, Some(" ")), Level::Warn, "ringshot"));
    }

    #[test]
    fn lines_read_like_the_cli_own_messages() {
        assert_eq!(
            line(Level::Warn, &format_args!("mlockall refused")),
            "ringshot: warning: mlockall refused"
        );
        assert_eq!(
            line(Level::Info, &format_args!("backend uring")),
            "ringshot: info: backend uring"
        );
    }
}
