//! What the names GitHub gives no digest for (source archives, older
//! assets) hashed to on their first complete download, kept on disk beside
//! the blobs: a restarted node knows the archive it holds by its name again,
//! rather than download it once more. One JSON line per name learnt, in
//! `names` in the store's directory; a line that does not read (a torn last
//! write) is skipped, the later of two lines for one name wins.
//!
//! Names are immutable on GitHub's side (an asset's id, an archive's commit),
//! so a name's digest does not go stale; a name whose next download hashes
//! to something else is forgotten (see `Writer::finish`) and learnt again.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Digest;

const FILE: &str = "names";

#[derive(Serialize, Deserialize)]
struct Line {
    name: String,
    /// `None`: forgotten.
    digest: Option<String>,
}

/// The names learnt in `dir` before.
pub(super) fn load(dir: &Path) -> std::io::Result<HashMap<String, Digest>> {
    let mut names = HashMap::new();
    let file = match std::fs::File::open(dir.join(FILE)) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(error) => return Err(error),
    };
    for line in std::io::BufReader::new(file).lines() {
        let Ok(line) = serde_json::from_str::<Line>(&line?) else { continue };
        match line.digest.as_deref().and_then(Digest::parse) {
            Some(digest) => names.insert(line.name, digest),
            None => names.remove(&line.name),
        };
    }
    Ok(names)
}

/// Notes that `name` is known by `digest` from now on (or, with `None`, no
/// more). A note that cannot be written costs a download after a restart:
/// logged, not failed.
pub(super) fn note(dir: &Path, name: &str, digest: Option<&Digest>) {
    let line = Line { name: name.to_owned(), digest: digest.map(ToString::to_string) };
    let written = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(FILE)).and_then(|mut file| {
        let mut bytes = serde_json::to_vec(&line).expect("a name line always encodes");
        bytes.push(b'\n');
        file.write_all(&bytes)
    });
    if let Err(error) = written {
        tracing::warn!(name, %error, "could not note what a download's name hashed to");
    }
}
