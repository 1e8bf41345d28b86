use std::process::ExitCode;

use clap::Parser;

use anycastd::cli::{catalog, client, generate, objects, Cli, Command};
use anycastd::{config, daemon, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log_format, &cli.log_level) {
        eprintln!("anycastd: {e}");
        return ExitCode::from(2);
    }
    let code = match cli.command {
        Command::Run { config, cleanup } => daemon::run(&config, cleanup),
        Command::Check { config, catalog } => match check(&config) {
            0 if catalog => catalog::check_current(&config),
            code => code,
        },
        Command::Doctor { config } => anycastd::doctor::command(&config),
        Command::Status { api, json } => client::status_command(&api, json),
        Command::Config { api } => client::config_command(&api),
        Command::Drain { api, vips } => client::drain_command(&api, &vips, true),
        Command::Undrain { api, vips } => client::drain_command(&api, &vips, false),
        Command::Vip(command) => objects::vip_command(&command),
        Command::Backend(command) => objects::backend_command(&command),
        Command::Catalog(command) => catalog::command(&command),
        Command::Generate { what, dir } => generate::command(what, &dir),
    };
    ExitCode::from(code as u8)
}

/// `anycastd check`: 0 valid, 1 invalid, 2 unreadable.
fn check(path: &std::path::Path) -> i32 {
    match config::load(path) {
        Ok(_) => {
            println!("{}: ok", path.display());
            0
        }
        Err(config::LoadError::Invalid(errors)) => {
            println!("{errors}");
            1
        }
        Err(e @ config::LoadError::Unreadable { .. }) => {
            eprintln!("{e}");
            2
        }
    }
}
