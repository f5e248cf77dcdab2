//! How requests and responses (fetch, sync, lease) travel: CBOR, each
//! message in an envelope that names the wire version it was written in,
//! `{"v": 2, "m": …}`. CBOR maps let a newer node add fields an older one
//! skips; a message this node cannot read at all fails with
//! [`WireError::Version`] when its envelope names another version (a newer
//! node: counted, and the connection kept — a rolling upgrade must not split
//! the fleet) and [`WireError::Malformed`] when it is not a message of ours
//! (the sender is broken or hostile).

use std::io;
use std::marker::PhantomData;

use futures::prelude::*;
use libp2p::StreamProtocol;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The gossipsub topic of cache announcements.
pub const ANNOUNCE_TOPIC: &str = "peercache/announce/1";
/// The version of the announcements this node writes and reads.
pub const WIRE_VERSION: u16 = 2;

/// Why a message could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("a message of wire version {0} this node cannot read (it speaks {WIRE_VERSION})")]
    Version(u16),
    #[error("not a peercache message: {0}")]
    Malformed(String),
}

impl WireError {
    /// The wire error inside an I/O error from a request-response exchange, if any.
    pub fn of(error: &io::Error) -> Option<&WireError> {
        error.get_ref()?.downcast_ref::<WireError>()
    }
}

/// A request as the codec hands it over. libp2p's request-response drops
/// requests that fail to decode without an event, so an unreadable one is
/// handed over as such, to be counted (and the peer dropped if it is not
/// ours at all) by whoever handles requests.
#[derive(Debug)]
pub enum Request<T> {
    Read(T),
    Unreadable(WireError),
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    v: u16,
    m: &'a T,
}

#[derive(Deserialize)]
struct Opened<T> {
    /// Any version whose message reads is fine (newer fields are skipped).
    #[serde(rename = "v")]
    _version: u16,
    m: T,
}

/// Only the version (what the rest says is not read).
#[derive(Deserialize)]
struct VersionOnly {
    v: u16,
}

/// What a node signs: `fields` in postcard, after a domain of their own, so
/// that a signature made under one domain means nothing under another.
pub fn under_domain<T: Serialize + ?Sized>(domain: &[u8], fields: &T) -> Vec<u8> {
    let mut bytes = domain.to_vec();
    bytes.extend(postcard::to_allocvec(fields).expect("signed fields always encode"));
    bytes
}

/// A message in its envelope.
pub fn encode<T: Serialize>(message: &T) -> io::Result<Vec<u8>> {
    cbor4ii::serde::to_vec(Vec::new(), &Envelope { v: WIRE_VERSION, m: message }).map_err(io::Error::other)
}

/// The message in an envelope; see [`WireError`] for what cannot be read.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    match cbor4ii::serde::from_slice::<Opened<T>>(bytes) {
        Ok(opened) => Ok(opened.m),
        Err(error) => match cbor4ii::serde::from_slice::<VersionOnly>(bytes) {
            Ok(VersionOnly { v }) if v != WIRE_VERSION => Err(WireError::Version(v)),
            _ => Err(WireError::Malformed(error.to_string())),
        },
    }
}

/// The request-response codec: [`encode`] and [`decode`], with size bounds.
pub struct Codec<Req, Resp> {
    request_maximum: u64,
    response_maximum: u64,
    types: PhantomData<(Req, Resp)>,
}

impl<Req, Resp> Codec<Req, Resp> {
    pub fn new(request_maximum: u64, response_maximum: u64) -> Self {
        Codec { request_maximum, response_maximum, types: PhantomData }
    }
}

impl<Req, Resp> Clone for Codec<Req, Resp> {
    fn clone(&self) -> Self {
        Codec::new(self.request_maximum, self.response_maximum)
    }
}

/// The bytes of one message, at most `maximum` (more reads as malformed).
async fn read_bytes<I: AsyncRead + Unpin + Send>(io: &mut I, maximum: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io.take(maximum).read_to_end(&mut bytes).await?;
    Ok(bytes)
}

impl<Req, Resp> libp2p::request_response::Codec for Codec<Req, Resp>
where
    Req: Send + Serialize + DeserializeOwned,
    Resp: Send + Serialize + DeserializeOwned,
{
    type Protocol = StreamProtocol;
    type Request = Request<Req>;
    type Response = Resp;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Request<Req>> {
        let bytes = read_bytes(io, self.request_maximum).await?;
        // A stream closed before any request was written on it says nothing
        // of the peer: its asker gave up first (at 50 nodes on 2 cores, busy
        // peers saw such streams and dropped the asker as not a peercache
        // node). Dropped quietly, as a stream that broke.
        if bytes.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a request stream closed before its request"));
        }
        Ok(match decode(&bytes) {
            Ok(request) => Request::Read(request),
            Err(error) => Request::Unreadable(error),
        })
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp> {
        let bytes = read_bytes(io, self.response_maximum).await?;
        decode(&bytes).map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request<Req>,
    ) -> io::Result<()> {
        let Request::Read(request) = request else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "an unreadable request is not sent"));
        };
        let bytes = encode(&request)?;
        io.write_all(&bytes).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Resp,
    ) -> io::Result<()> {
        let bytes = encode(&response)?;
        io.write_all(&bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::protocol::{FetchRequest, LeaseResponse};

    fn cbor(value: &serde_json::Value) -> Vec<u8> {
        cbor4ii::serde::to_vec(Vec::new(), value).unwrap()
    }

    #[test]
    fn a_message_reads_back_and_names_its_version() {
        let bytes = encode(&FetchRequest { key: "k".into() }).unwrap();
        assert_eq!(decode::<FetchRequest>(&bytes), Ok(FetchRequest { key: "k".into() }));
        let raw: serde_json::Value = cbor4ii::serde::from_slice(&bytes).unwrap();
        assert_eq!(raw["v"], WIRE_VERSION);
    }

    #[test]
    fn a_newer_node_s_extra_fields_are_skipped() {
        let newer = cbor(&serde_json::json!({"v": WIRE_VERSION + 1, "m": {"key": "k", "priority": 9}, "trace": "x"}));
        assert_eq!(decode::<FetchRequest>(&newer), Ok(FetchRequest { key: "k".into() }));
        let older = cbor(&serde_json::json!({"v": WIRE_VERSION, "m": {"granted": true}}));
        assert_eq!(
            decode::<LeaseResponse>(&older),
            Ok(LeaseResponse { granted: true, holder: None, remaining_ms: 0 }),
            "absent fields take their defaults"
        );
    }

    /// An empty stream is one its asker gave up on, not garbage: it is not
    /// handed over as unreadable (which drops the peer).
    #[tokio::test]
    async fn a_request_stream_closed_before_its_request_is_not_taken_for_garbage() {
        use libp2p::request_response::Codec as _;
        let mut codec = Codec::<FetchRequest, LeaseResponse>::new(1024, 1024);
        let protocol = StreamProtocol::new("/peercache/test/1.0.0");
        let empty = codec.read_request(&protocol, &mut futures::io::Cursor::new(Vec::new())).await;
        assert_eq!(empty.map(|_| ()).map_err(|e| e.kind()), Err(io::ErrorKind::UnexpectedEof));
        let garbage = codec.read_request(&protocol, &mut futures::io::Cursor::new(b"\xff\x00garbage".to_vec())).await;
        assert!(matches!(garbage, Ok(Request::Unreadable(WireError::Malformed(_)))), "{garbage:?}");
        let request = encode(&FetchRequest { key: "k".into() }).unwrap();
        let read = codec.read_request(&protocol, &mut futures::io::Cursor::new(request)).await;
        assert!(matches!(read, Ok(Request::Read(FetchRequest { .. }))), "{read:?}");
    }

    #[test]
    fn what_cannot_be_read_is_told_apart_another_version_from_garbage() {
        let changed = cbor(&serde_json::json!({"v": WIRE_VERSION + 1, "m": {"key": {"parts": ["a", "b"]}}}));
        assert_eq!(decode::<FetchRequest>(&changed), Err(WireError::Version(WIRE_VERSION + 1)));
        let same_version_wrong_shape = cbor(&serde_json::json!({"v": WIRE_VERSION, "m": {"key": 5}}));
        assert!(matches!(decode::<FetchRequest>(&same_version_wrong_shape), Err(WireError::Malformed(_))));
        assert!(matches!(decode::<FetchRequest>(b"\xff\x00garbage"), Err(WireError::Malformed(_))));
        let bare = cbor(&serde_json::json!({"key": "k"}));
        assert!(matches!(decode::<FetchRequest>(&bare), Err(WireError::Malformed(_))), "no envelope");
    }
}
