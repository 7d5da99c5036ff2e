//! Terminal output: colored when stdout is a terminal, plain otherwise (CI logs, pipes).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use owo_colors::{OwoColorize, Stream};

pub fn step(msg: impl AsRef<str>) {
    eprintln!(
        "{} {}",
        "==>".if_supports_color(Stream::Stderr, |t| t.cyan()),
        msg.as_ref()
    );
}

pub fn ok(msg: impl AsRef<str>) {
    eprintln!(
        "{} {}",
        "ok".if_supports_color(Stream::Stderr, |t| t.green()),
        msg.as_ref()
    );
}

pub fn warn(msg: impl AsRef<str>) {
    eprintln!(
        "{} {}",
        "warning:".if_supports_color(Stream::Stderr, |t| t.yellow()),
        msg.as_ref()
    );
}

pub fn bold(s: &str) -> String {
    s.if_supports_color(Stream::Stdout, |t| t.bold())
        .to_string()
}

pub fn red(s: &str) -> String {
    s.if_supports_color(Stream::Stdout, |t| t.red()).to_string()
}

pub fn dim(s: &str) -> String {
    s.if_supports_color(Stream::Stdout, |t| t.dimmed())
        .to_string()
}

pub fn green(s: &str) -> String {
    s.if_supports_color(Stream::Stdout, |t| t.green())
        .to_string()
}

pub fn is_interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// A spinner with elapsed time; hidden when stdout is not a terminal (lines are printed instead).
pub fn spinner(msg: impl Into<String>) -> ProgressBar {
    let pb = if std::io::stdout().is_terminal() {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed:>4}] {msg}").expect("valid template"),
    );
    pb.set_message(msg.into());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Now in UTC to the second, for the lines of background logs.
pub fn now_utc() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}
