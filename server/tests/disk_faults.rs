//! A full disk, for real: the cache's store on a 4 MiB tmpfs, filled up by
//! another file. Writes are refused while it is full; an invalidation still
//! drops the entries from memory and says so; once there is room again,
//! writes work without a restart and the owed removals reach the disk.
//! (Mounting needs root, which the test machines and CI have.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use server::cache::ttl::SystemClock;
use server::cache::{Cache, CacheConfig, PutOptions};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mounting a tmpfs needs root (the README's test command runs as root on the test machines)"
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills what is left of the filesystem with one file.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.flush();
    path
}

fn value(n: usize) -> Bytes {
    Bytes::from(format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(2000)))
}

#[test]
fn a_full_disk_refuses_writes_keeps_invalidations_and_recovers_without_a_restart() {
    let disk = Tmpfs::mount("4m");
    let store_dir = disk.path().join("cache");
    let config = CacheConfig { dir: Some(store_dir.clone()), ..CacheConfig::default() };
    let cache = Arc::new(Cache::open(config.clone(), Arc::new(SystemClock)).unwrap());
    for n in 0..10 {
        cache.put(&format!("get_repo:octo/kept{n}"), value(n), PutOptions::default()).unwrap();
    }
    let filler = fill(disk.path());
    // The disk is full: sooner or later a write is refused.
    let refused =
        (0..500).find_map(|n| cache.put(&format!("get_repo:octo/more{n}"), value(n), PutOptions::default()).err());
    let refused = refused.expect("a write is refused on a full disk");
    assert!(refused.to_string().contains("cache store"), "{refused}");
    assert!(cache.stats().store_trouble.is_some(), "the statistics say so");
    // An invalidation still takes effect in memory.
    assert!(cache.invalidate("get_repo:octo/kept3").unwrap());
    assert!(cache.peek("get_repo:octo/kept3").is_none(), "never served again");
    // Room again: the next write works, without a restart, and pays what was owed.
    std::fs::remove_file(filler).unwrap();
    cache.put("get_repo:octo/after", value(99), PutOptions::default()).expect("writes work again");
    assert!(cache.stats().store_trouble.is_none());
    drop(cache);
    let reopened = Cache::open(config, Arc::new(SystemClock)).unwrap();
    assert!(reopened.peek("get_repo:octo/after").is_some());
    assert!(reopened.peek("get_repo:octo/kept3").is_none(), "the owed removal reached the disk");
    assert!(reopened.peek("get_repo:octo/kept4").is_some());
}
