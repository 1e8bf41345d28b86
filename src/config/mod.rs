//! Configuration: the TOML schema of CONTRACT.md, parsed and validated completely before
//! anything is touched. Errors carry the file, line and column of the offending key.

//! Layers, each in its own file:
//! - `raw.rs`: serde structs, every key optional, every leaf spanned and untyped;
//! - `validate.rs`: the error collector and typed readers for leaves;
//! - `resolve.rs` (node, api, bgp), `vip.rs` (VIPs, services, backends), `check.rs` (checks):
//!   raw to [`Config`], defaults filled in, every error collected;
//! - `duration.rs`, `position.rs`: `"1m30s"` and byte offsets to line:column.

mod catalog;
mod check;
pub mod duration;
pub mod edit;
mod export;
mod model;
pub mod naming;
mod position;
mod raw;
mod resolve;
pub mod running;
#[cfg(test)]
mod tests;
mod validate;
mod vip;

pub use catalog::{endpoint as valid_endpoint, valid_label};
pub use model::*;

use std::fmt;
use std::path::Path;

/// Where the daemon looks when `-c` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/anycastd/anycastd.toml";

/// One problem in a config file, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Every problem found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub file: String,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    /// One `FILE:LINE:COL: message` line per error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.file, e.line, e.col, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(ConfigErrors),
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Config, LoadError> {
    load_with_text(path).map(|(config, _)| config)
}

/// Reads and validates a config file, keeping the text it was read from (the daemon serves
/// it, secrets removed, as `GET /config`).
pub fn load_with_text(path: &Path) -> Result<(Config, String), LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Unreadable {
        path: path.display().to_string(),
        source,
    })?;
    let config = parse(&text, &path.display().to_string()).map_err(LoadError::Invalid)?;
    Ok((config, text))
}

/// Parses and validates config text; `file` is only used in error messages.
///
/// Every problem is reported, in file order, each at the line and column of the offending key or
/// value; only a TOML syntax error (or a value where a table belongs) stops at the first one.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigErrors> {
    let mut ctx = validate::Ctx::new(text);
    let (raw, read_errors) = raw::read(text);
    for (message, span) in read_errors {
        ctx.error(&span, message);
    }
    let config = raw.and_then(|raw| resolve::config(&mut ctx, &raw));
    let errors = ctx.into_errors();
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => Err(ConfigErrors {
            file: file.to_string(),
            errors: if errors.is_empty() {
                // Unreachable by construction (every `None` records why), but never say "ok"
                // about a config that did not resolve.
                vec![ConfigError {
                    line: 1,
                    col: 1,
                    message: "invalid configuration".into(),
                }]
            } else {
                errors
            },
        }),
    }
}
