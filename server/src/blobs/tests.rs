use futures::StreamExt;

use super::*;

async fn all(stream: ByteStream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut stream = stream;
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn want(name: &str, digest: Option<Digest>, size: Option<u64>) -> Want {
    Want { name: name.to_owned(), digest, size }
}

fn store(dir: &Path, budget: u64, max_blob: u64) -> Arc<Blobs> {
    Arc::new(Blobs::open(dir, budget, max_blob).unwrap())
}

async fn put(blobs: &Arc<Blobs>, name: &str, body: &[u8]) -> Digest {
    let Begun::Write(mut writer) = blobs.begin(&want(name, Some(Digest::of(body)), None)).unwrap() else {
        panic!("{name} is new")
    };
    writer.write(body).await.unwrap();
    writer.finish().await.unwrap().0
}

#[test]
fn digests_read_as_github_writes_them() {
    let digest = Digest::of(b"abc");
    assert_eq!(digest.to_string(), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(Digest::parse(&digest.to_string()), Some(digest));
    for bad in ["ba7816bf", "sha256:xyz", "sha1:ba7816bf8f01cfea414140de5dae2223b00361a3", "sha256:"] {
        assert_eq!(Digest::parse(bad), None, "{bad}");
    }
}

#[tokio::test]
async fn a_download_is_followed_as_it_grows_and_its_last_byte_waits_for_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = store(dir.path(), 1 << 30, 1 << 30);
    let body = bytes(600 * 1024);
    let digest = Digest::of(&body);
    let asked = want("a", Some(digest), Some(body.len() as u64));
    let Begun::Write(mut writer) = blobs.begin(&asked).unwrap() else { panic!() };
    let Begun::Follow(growing) = blobs.begin(&asked).unwrap() else { panic!("a second asker follows") };
    assert_eq!(growing.expected, Some(body.len() as u64));
    let reading = tokio::spawn(all(follow(&growing, 0, u64::MAX)));
    writer.write(&body[..300 * 1024]).await.unwrap();
    assert_eq!(growing.progress(), Progress::Receiving(300 * 1024));
    writer.write(&body[300 * 1024..]).await.unwrap();
    tokio::task::yield_now().await;
    assert!(!reading.is_finished(), "the last byte is held back until the digest matches");
    assert_eq!(writer.finish().await.unwrap(), (digest, body.len() as u64));
    assert_eq!(reading.await.unwrap().unwrap(), body);
    assert_eq!(blobs.holds(&digest), Some(body.len() as u64));
    assert!(matches!(blobs.begin(&asked).unwrap(), Begun::Held(d, _) if d == digest));
    let middle = all(blobs.read(digest, 1000, 2000).await.unwrap()).await.unwrap();
    assert_eq!(middle, &body[1000..2000]);
}

#[tokio::test]
async fn a_download_that_does_not_match_is_never_read_whole_nor_kept() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = store(dir.path(), 1 << 30, 1 << 30);
    let body = bytes(1000);
    let digest = Digest::of(b"what GitHub said");
    let asked = want("a", Some(digest), None);
    let Begun::Write(mut writer) = blobs.begin(&asked).unwrap() else { panic!() };
    let reading = tokio::spawn(all(blobs.read(digest, 0, u64::MAX).await.unwrap()));
    writer.write(&body).await.unwrap();
    let error = writer.finish().await.unwrap_err();
    assert!(matches!(error, WriteError::Mismatch { .. }), "{error}");
    assert!(reading.await.unwrap().is_err(), "the reader ends short, with an error");
    assert_eq!(blobs.holds(&digest), None);
    assert!(blobs.read(digest, 0, u64::MAX).await.is_none());
    assert_eq!(std::fs::read_dir(dir.path().join("partial")).unwrap().count(), 0, "its partial file is gone");
    assert!(matches!(blobs.begin(&asked).unwrap(), Begun::Write(_)), "the next asker fetches again");
}

#[tokio::test]
async fn a_name_without_a_digest_is_known_by_its_first_download() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = store(dir.path(), 1 << 30, 1 << 30);
    let asked = want("tarball:o/r@abc", None, None);
    let Begun::Write(mut writer) = blobs.begin(&asked).unwrap() else { panic!() };
    let Begun::Follow(growing) = blobs.begin(&asked).unwrap() else { panic!("followed by name") };
    let reading = tokio::spawn(all(follow(&growing, 0, u64::MAX)));
    writer.write(b"archive bytes").await.unwrap();
    let (digest, _) = writer.finish().await.unwrap();
    assert_eq!(digest, Digest::of(b"archive bytes"));
    assert_eq!(reading.await.unwrap().unwrap(), b"archive bytes");
    assert_eq!(blobs.digest_of(&asked), Some(digest));
    assert!(matches!(blobs.begin(&asked).unwrap(), Begun::Held(d, 13) if d == digest));
}

#[tokio::test]
async fn size_limits_and_the_size_github_gave_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = store(dir.path(), 1 << 30, 100);
    let Begun::Write(mut writer) = blobs.begin(&want("x", None, None)).unwrap() else { panic!() };
    assert!(matches!(writer.write(&bytes(101)).await, Err(WriteError::TooLarge { got: 101, limit: 100 })));
    drop(writer);
    let body = bytes(50);
    let Begun::Write(mut writer) = blobs.begin(&want("y", Some(Digest::of(&body)), Some(60))).unwrap() else {
        panic!()
    };
    writer.write(&body).await.unwrap();
    assert!(matches!(writer.finish().await, Err(WriteError::WrongSize { want: 60, got: 50 })));
}

#[tokio::test]
async fn the_budget_evicts_the_least_recently_used_and_a_rotten_blob_is_refused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = store(dir.path(), 2500, 1 << 20);
    let first = put(&blobs, "0", &[0u8; 1000]).await;
    let second = put(&blobs, "1", &[1u8; 1000]).await;
    // The first is read again: the second becomes the oldest.
    all(blobs.read(first, 0, u64::MAX).await.unwrap()).await.unwrap();
    let third = put(&blobs, "2", &[2u8; 1000]).await;
    assert_eq!(blobs.usage(), (2, 2000));
    assert_eq!(blobs.holds(&second), None, "the least recently used went");
    assert!(blobs.holds(&first).is_some() && blobs.holds(&third).is_some());
    drop(blobs);
    std::fs::write(dir.path().join("sha256").join(third.hex()), [9u8; 1000]).unwrap();
    let blobs = store(dir.path(), 2500, 1 << 20);
    assert_eq!(blobs.usage(), (2, 2000), "known again after a restart");
    assert!(blobs.read(third, 0, u64::MAX).await.is_none(), "a blob that rotted is not served");
    assert_eq!(blobs.usage(), (1, 1000));
    assert_eq!(all(blobs.read(first, 0, u64::MAX).await.unwrap()).await.unwrap(), vec![0u8; 1000]);
}

#[tokio::test]
async fn an_archive_is_known_by_its_name_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let body = bytes(300 * 1024);
    let archive = want("tarball:o/r@0123456789abcdef0123456789abcdef01234567", None, None);
    {
        let blobs = store(dir.path(), 1 << 30, 1 << 30);
        let Begun::Write(mut writer) = blobs.begin(&archive).unwrap() else { panic!("new") };
        writer.write(&body).await.unwrap();
        writer.finish().await.unwrap();
    }
    // A torn last line (a crash while noting a name) is skipped.
    let mut names = std::fs::OpenOptions::new().append(true).open(dir.path().join("names")).unwrap();
    std::io::Write::write_all(&mut names, b"{\"name\":\"tarball:o/r@ff").unwrap();
    let blobs = store(dir.path(), 1 << 30, 1 << 30);
    assert!(
        matches!(blobs.begin(&archive).unwrap(), Begun::Held(d, _) if d == Digest::of(&body)),
        "held, known by its name: not downloaded again"
    );
}

#[tokio::test]
async fn a_name_whose_next_download_hashes_otherwise_is_forgotten_and_learnt_again() {
    let dir = tempfile::tempdir().unwrap();
    // Room for one of the two: the archive is evicted by the next blob.
    let blobs = store(dir.path(), 700 * 1024, 1 << 30);
    let archive = want("zipball:o/r@0123456789abcdef0123456789abcdef01234567", None, None);
    let Begun::Write(mut writer) = blobs.begin(&archive).unwrap() else { panic!("new") };
    writer.write(&bytes(600 * 1024)).await.unwrap();
    let (first, _) = writer.finish().await.unwrap();
    put(&blobs, "other", &bytes(500 * 1024)).await;
    assert_eq!(blobs.holds(&first), None, "evicted");
    assert_eq!(blobs.digest_of(&archive), Some(first));
    let Begun::Write(mut writer) = blobs.begin(&archive).unwrap() else { panic!("fetched again") };
    writer.write(&bytes(601 * 1024)).await.unwrap();
    assert!(matches!(writer.finish().await, Err(WriteError::Mismatch { .. })));
    assert_eq!(blobs.digest_of(&archive), None, "forgotten");
    drop(blobs);
    assert_eq!(store(dir.path(), 700 * 1024, 1 << 30).digest_of(&archive), None, "and still after a restart");
}

#[tokio::test]
async fn a_download_left_part_way_keeps_its_whole_pieces_and_other_leftovers_go() {
    let dir = tempfile::tempdir().unwrap();
    let piece = PIECE_BYTES as usize;
    let body = bytes(3 * piece + 1000);
    let digest = Digest::of(&body);
    drop(store(dir.path(), 1 << 30, 1 << 30));
    let partial = dir.path().join("partial");
    std::fs::write(partial.join(digest.hex()), &body[..2 * piece + 500]).unwrap();
    std::fs::write(partial.join("not-a-digest"), b"x").unwrap();
    let stale = partial.join(Digest::of(b"two days old").hex());
    std::fs::write(&stale, b"x").unwrap();
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 24 * 3600);
    std::fs::File::options().write(true).open(&stale).unwrap().set_modified(two_days_ago).unwrap();
    let blobs = store(dir.path(), 1 << 30, 1 << 30);
    assert!(!partial.join("not-a-digest").exists() && !stale.exists(), "leftovers not to resume are removed");
    let asked = want("a", Some(digest), Some(body.len() as u64));
    let Begun::Write(mut writer) = blobs.begin(&asked).unwrap() else { panic!("not held yet") };
    writer.resume().await.unwrap();
    assert_eq!(writer.taken(), 2 * PIECE_BYTES, "whole pieces kept, the torn one cut off");
    let pieces = writer.growing().pieces.lock().unwrap().clone();
    assert_eq!(*pieces, [Digest::of(&body[..piece]), Digest::of(&body[piece..2 * piece])]);
    writer.write(&body[2 * piece..]).await.unwrap();
    assert_eq!(writer.finish().await.unwrap(), (digest, body.len() as u64));
    // Without a digest, the bytes cannot be checked: such a download starts over.
    let name = want("tarball:o/r@0123456789abcdef0123456789abcdef01234567", None, None);
    std::fs::write(partial.join(name.stand_in().hex()), &body[..2 * piece]).unwrap();
    let Begun::Write(mut writer) = blobs.begin(&name).unwrap() else { panic!("not held yet") };
    writer.resume().await.unwrap();
    assert_eq!(writer.taken(), 0);
}

/// A follower passes a piece on before the bytes before it are here: a
/// piece checked and offered ahead is read from memory, a peer waiting on
/// it gets it the moment it is offered, and once it is written it is read
/// from disk like the rest. The file's last byte still waits for the digest.
#[tokio::test]
async fn a_piece_taken_ahead_is_readable_by_peers_before_the_bytes_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = store(dir.path(), 1 << 30, 1 << 30);
    let body = bytes(2 * PIECE_BYTES as usize + 10);
    let digest = Digest::of(&body);
    let Begun::Write(mut writer) = blobs.begin(&want("a", Some(digest), Some(body.len() as u64))).unwrap() else {
        panic!()
    };
    let (first, second) = (&body[..PIECE_BYTES as usize], &body[PIECE_BYTES as usize..2 * PIECE_BYTES as usize]);
    assert_eq!(blobs.read_now(digest, PIECE_BYTES, PIECE_BYTES), None, "nothing yet");
    let waiting = {
        let blobs = blobs.clone();
        tokio::spawn(async move {
            blobs.until_readable(digest, PIECE_BYTES, 2 * PIECE_BYTES, std::time::Duration::from_secs(10)).await;
            blobs.read_now(digest, PIECE_BYTES, PIECE_BYTES)
        })
    };
    let second = Arc::new(Piece::new(second.to_vec()));
    writer.offer(PIECE_BYTES, second.clone());
    assert_eq!(waiting.await.unwrap().as_deref(), Some(second.bytes()), "the waiting peer got it when it came");
    assert_eq!(blobs.read_now(digest, PIECE_BYTES, 10), None, "only the piece as it was taken");
    writer.write_piece(&Piece::new(first.to_vec())).await.unwrap();
    writer.write_piece(&second).await.unwrap();
    assert!(writer.growing().ahead.lock().unwrap().is_empty(), "written, it is read from disk");
    assert_eq!(blobs.read_now(digest, PIECE_BYTES, PIECE_BYTES).as_deref(), Some(second.bytes()));
    assert_eq!(blobs.have(Some(digest), None).unwrap().readable, 2 * PIECE_BYTES, "short of the size: all of it");
    let all = body.len() as u64;
    assert_eq!(Progress::Receiving(all).readable(Some(all)), all - 1, "the last byte waits for the digest");
    assert_eq!(Progress::Receiving(all).readable(None), all - 1, "with no size, any byte may be the last");
    writer.write(&body[2 * PIECE_BYTES as usize..]).await.unwrap();
    assert_eq!(writer.finish().await.unwrap().0, digest);
    let list = blobs.have(Some(digest), None).unwrap().pieces;
    assert_eq!(list[1], second.digest(), "the list holds the piece's hash as it was checked");
}
