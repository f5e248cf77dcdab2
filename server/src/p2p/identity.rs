//! The node's identity and the private swarm key, both files in `CACHE_DIR`.
//! The ed25519 key is created once (mode 0600) so the peer id stays the same
//! across restarts.

use std::path::{Path, PathBuf};

use anyhow::Context;
use libp2p::identity::Keypair;
use libp2p::pnet::PreSharedKey;
use rand::RngCore;

use crate::private::{private_dir, write_private};

pub const IDENTITY_FILE: &str = "identity.ed25519";

pub fn identity_path(cache_dir: &Path) -> PathBuf {
    cache_dir.join(IDENTITY_FILE)
}

/// Loads the keypair in `cache_dir`, creating it on first use.
pub fn load_or_create_identity(cache_dir: &Path) -> anyhow::Result<Keypair> {
    let path = identity_path(cache_dir);
    match std::fs::read(&path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes)
            .with_context(|| format!("{} is not a peercache identity key", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            private_dir(cache_dir).with_context(|| format!("cannot create {}", cache_dir.display()))?;
            let keypair = Keypair::generate_ed25519();
            let bytes = keypair.to_protobuf_encoding().context("encoding the new identity")?;
            write_private(&path, &bytes)?;
            tracing::info!(peer_id = %keypair.public().to_peer_id(), path = %path.display(), "created node identity");
            Ok(keypair)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// A new swarm key in the standard `/key/swarm/psk/1.0.0/` file format.
pub fn new_swarm_key() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    PreSharedKey::new(key).to_string()
}

/// Reads a swarm key file.
pub fn read_swarm_key(path: &Path) -> anyhow::Result<PreSharedKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read swarm key {}", path.display()))?;
    text.parse::<PreSharedKey>()
        .map_err(|e| anyhow::anyhow!("{} is not a /key/swarm/psk/1.0.0/ file: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_stable_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_identity(dir.path()).unwrap();
        let second = load_or_create_identity(dir.path()).unwrap();
        assert_eq!(first.public().to_peer_id(), second.public().to_peer_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(identity_path(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_garbage_identity_is_an_error_not_a_new_identity() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(identity_path(dir.path()), b"garbage").unwrap();
        assert!(load_or_create_identity(dir.path()).is_err());
    }

    #[test]
    fn swarm_keys_round_trip_and_differ() {
        let dir = tempfile::tempdir().unwrap();
        let text = new_swarm_key();
        assert!(text.starts_with("/key/swarm/psk/1.0.0/\n/base16/\n"), "{text}");
        let path = dir.path().join("swarm.key");
        std::fs::write(&path, &text).unwrap();
        let key = read_swarm_key(&path).unwrap();
        assert_eq!(key.to_string(), text);
        assert_ne!(new_swarm_key(), text);
        std::fs::write(&path, "nope").unwrap();
        assert!(read_swarm_key(&path).is_err());
    }
}
