//! `peercache config`: every setting `serve` would run with — as the flags,
//! the environment and the settings file give it — and where each value
//! came from (flag, env, file or default). Secrets show only that they are set.

use std::fmt::Write;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use serde::Serialize;

use crate::config::ServeConfig;

/// The settings file that was read, and the variables it set.
#[derive(Debug, Default)]
pub struct FromFile {
    pub path: Option<PathBuf>,
    pub variables: Vec<String>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Setting {
    /// The flag's name (also the settings file's key).
    pub setting: String,
    /// Its environment variable.
    pub env: Option<String>,
    /// As given (`256MiB` stays `256MiB`); `None` when unset.
    pub value: Option<String>,
    /// `flag`, `env`, `file` or `default` (`unset` when nothing sets it).
    pub source: &'static str,
}

/// The value `serve` uses for a setting nothing sets, where it derives one
/// (a path under the cache directory, the group secret's origin).
fn derived(setting: &str, config: &ServeConfig) -> Option<String> {
    match setting {
        "cache-dir" => Some(config.cache_dir().display().to_string()),
        "gh-socket" => Some(config.gh_socket_path().map_or_else(|| "off".to_owned(), |p| p.display().to_string())),
        "cache-secret" if config.swarm_key.is_some() => Some("(derived from the swarm key)".to_owned()),
        "cache-secret" => Some("(none: only anonymous answers cross token scopes)".to_owned()),
        _ => None,
    }
}

/// The settings in `matches` (of a command carrying [`ServeConfig`], parsed
/// as `config`): what `serve` would use, and where each value comes from.
pub fn effective(matches: &ArgMatches, from_file: &FromFile, config: &ServeConfig) -> Vec<Setting> {
    let serve = ServeConfig::augment_args(clap::Command::new("serve"));
    serve
        .get_arguments()
        .filter_map(|arg| {
            let setting = arg.get_long()?.to_owned();
            let id = arg.get_id().as_str();
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            let source = match matches.value_source(id) {
                Some(ValueSource::CommandLine) => "flag",
                Some(ValueSource::EnvVariable) if env.as_ref().is_some_and(|e| from_file.variables.contains(e)) => {
                    "file"
                }
                Some(ValueSource::EnvVariable) => "env",
                Some(ValueSource::DefaultValue) => "default",
                _ => "unset",
            };
            let value = matches
                .get_raw(id)
                .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect::<Vec<_>>().join(","));
            let value = if arg.is_hide_env_values_set() { value.map(|_| "(set, hidden)".to_owned()) } else { value };
            let (value, source) = match (value, source) {
                (None, "unset") => match derived(&setting, config) {
                    Some(value) => (Some(value), "default"),
                    None => (None, "unset"),
                },
                other => other,
            };
            Some(Setting { setting, env, value, source })
        })
        .collect()
}

/// For a person: one line a setting, and the file when one was read.
pub fn text(settings: &[Setting], from_file: &FromFile) -> String {
    let width = settings.iter().map(|s| s.setting.len()).max().unwrap_or(0);
    let value_width = settings.iter().map(|s| s.value.as_deref().unwrap_or("-").len()).max().unwrap_or(0).min(48);
    let mut out = String::new();
    for s in settings {
        let source = match (s.source, &s.env) {
            ("env", Some(env)) => format!("env {env}"),
            ("file", _) => {
                format!("file {}", from_file.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default())
            }
            (source, _) => source.to_owned(),
        };
        let _ = writeln!(out, "{:<width$}  {:<value_width$}  {source}", s.setting, s.value.as_deref().unwrap_or("-"));
    }
    out
}
