//! Human output: progress on stderr, quiet unless something happens.

use std::io::IsTerminal;

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
        .with_writer(std::io::stderr)
        .with_target(verbose)
        .without_time()
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// A line for the user.
pub fn info(msg: &str) {
    eprintln!("{msg}");
}

/// A fatal error.
pub fn error(msg: &str) {
    eprintln!("error: {msg}");
}

/// Both stdin and stdout are terminals: a person can answer a question.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Asks a yes/no question; anything but y/yes is no.
pub fn confirm(question: &str) -> bool {
    use std::io::Write;
    eprint!("{question} (y/N): ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Asks for a line of text (empty when nothing was typed).
pub fn ask(question: &str) -> String {
    use std::io::Write;
    eprint!("{question}: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    answer.trim().to_string()
}
