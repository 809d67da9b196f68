//! `paperclipai`: the thin binary. It parses arguments, resolves settings once and calls the
//! libraries; all logic lives in the `paperclip-*` crates.

mod access;
mod backups;
mod cli;
mod client;
mod company;
mod db;
mod doctor;
mod heartbeat;
mod plugins;
mod postgres;
mod run;
mod secrets;
mod target;
mod ui;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    ui::init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            ui::error(&format!("cannot start the async runtime: {e}"));
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            ui::error(&format!("{e:#}"));
            std::process::ExitCode::FAILURE
        }
    }
}
