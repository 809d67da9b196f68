//! Human output: progress on stderr, quiet unless something happens.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};

/// Every bar this process draws. Log lines and messages are written around them
/// ([`MultiProgress::suspend`]): a line logged while a spinner turns would otherwise be torn
/// by its next redraw.
fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

/// Shows `bar` on a terminal, below any other.
pub fn show(bar: ProgressBar) -> ProgressBar {
    bars().add(bar)
}

/// Writes to stderr with the bars hidden for the moment.
fn to_stderr(bytes: &[u8]) {
    bars().suspend(|| {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(bytes);
        let _ = err.flush();
    });
}

/// One log event, collected and then written whole (the formatter writes an event in parts).
struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            to_stderr(&self.0);
        }
    }
}

/// Logs go to stderr. Paperclip's own progress is shown at `info`; dependencies only warn.
/// `RUST_LOG` overrides.
pub fn init_logging(verbose: bool) {
    let default = if verbose {
        "debug,sqlx=warn,hyper=info"
    } else {
        "warn,paperclip_postgres=info,paperclip_server=info,paperclip_cli=info,sqlx=error"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogLine(Vec::new()))
        .with_target(verbose)
        .without_time()
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// A line for the user.
pub fn info(msg: &str) {
    to_stderr(format!("{msg}\n").as_bytes());
}

/// A fatal error.
pub fn error(msg: &str) {
    to_stderr(format!("error: {msg}\n").as_bytes());
}

/// Both stdin and stdout are terminals: a person can answer a question.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Asks a yes/no question; anything but y/yes is no.
pub fn confirm(question: &str) -> bool {
    to_stderr(format!("{question} (y/N): ").as_bytes());
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Asks for a line of text (empty when nothing was typed).
pub fn ask(question: &str) -> String {
    to_stderr(format!("{question}: ").as_bytes());
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    answer.trim().to_string()
}

/// Long work on a terminal: a spinner with the elapsed time, and the size of a file being
/// written when one is named. Nothing is drawn when stderr is not a terminal (logs, CI,
/// scripts), where the surrounding lines already say what happens.
pub struct Activity(Option<ProgressBar>);

/// A folder, and which of its files is the one being written.
pub type Growing = (std::path::PathBuf, fn(&str) -> bool);

impl Activity {
    /// Starts showing `message`; `growing` is polled for the size written so far (its newest
    /// file matching the predicate, in a folder).
    pub fn start(message: &str, growing: Option<Growing>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = show(ProgressBar::new_spinner());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        if let Some((dir, matches)) = growing {
            let b = bar.clone();
            let base = message.to_string();
            std::thread::spawn(move || {
                while !b.is_finished() {
                    let size = std::fs::read_dir(&dir)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .filter(|e| matches(&e.file_name().to_string_lossy()))
                        .filter_map(|e| e.metadata().ok())
                        .max_by_key(|m| m.modified().ok())
                        .map(|m| m.len());
                    if let Some(s) = size {
                        b.set_message(format!("{base} {}", indicatif::HumanBytes(s)));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
            });
        }
        Self(Some(bar))
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
