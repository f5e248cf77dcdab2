//! `peercache.toml`: every `peercache serve` setting, by its flag name.
//! Precedence is flag > environment > file > default. clap already gives
//! flag > environment > default, so a setting from the file becomes the
//! environment variable of its flag — unless that variable is already set —
//! before the command line is parsed again.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use clap::Command;

/// The file's name inside `CACHE_DIR`.
pub const FILE_NAME: &str = "peercache.toml";

/// What the file would set: (environment variable, value), for `command`'s
/// arguments. Unknown keys and values that are not scalars are errors.
pub fn settings(command: &Command, path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table = text.parse().with_context(|| format!("{} is not valid TOML", path.display()))?;
    let mut out = Vec::new();
    for (key, value) in table {
        let flag = key.replace('_', "-");
        let env = command
            .get_arguments()
            .find(|arg| arg.get_long() == Some(flag.as_str()))
            .and_then(|arg| arg.get_env())
            .ok_or_else(|| {
                anyhow!(
                    "{}: unknown setting {key:?} (use the long flag names of `peercache serve --help`)",
                    path.display()
                )
            })?;
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| anyhow!("{}: {key} must be a list of strings", path.display()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?
                .join(","),
            other => return Err(anyhow!("{}: {key} cannot be {}", path.display(), other.type_str())),
        };
        out.push((env.to_string_lossy().into_owned(), text));
    }
    Ok(out)
}

/// The file to read: `--config`/`PEERCACHE_CONFIG` (must exist), else
/// `CACHE_DIR/peercache.toml` when it exists.
pub fn locate(explicit: Option<PathBuf>, cache_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    match explicit {
        Some(path) if path.exists() => Ok(Some(path)),
        Some(path) => Err(anyhow!("config file {} does not exist", path.display())),
        None => {
            let path = cache_dir.join(FILE_NAME);
            Ok(path.exists().then_some(path))
        }
    }
}
