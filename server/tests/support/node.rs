//! Real libp2p nodes in the test process, on 127.0.0.1 with OS-chosen ports,
//! each over its own cache in a temporary directory.

use std::sync::Arc;

use app::model::PeerStatus;
use libp2p::identity::Keypair;
use libp2p::pnet::PreSharedKey;
use server::cache::ttl::SystemClock;
use server::cache::{Cache, CacheConfig};
use server::p2p::client::NodeClient;
use server::p2p::{start, NodeConfig};

use super::wait_for;

pub struct Node {
    pub cache: Arc<Cache>,
    pub client: NodeClient,
    /// Its identity, to sign as it would.
    pub identity: Keypair,
    _dir: tempfile::TempDir,
}

impl Node {
    pub fn start(bootstrap: &str, swarm_key: Option<PreSharedKey>) -> Node {
        Node::start_with(bootstrap, |config| config.swarm_key = swarm_key, |_| {})
    }

    /// A node whose P2P and cache settings `adjust` and `cache` change.
    pub fn start_with(
        bootstrap: &str,
        adjust: impl FnOnce(&mut NodeConfig),
        cache: impl FnOnce(&mut CacheConfig),
    ) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let mut cache_config = CacheConfig { dir: Some(dir.path().to_owned()), ..CacheConfig::default() };
        cache(&mut cache_config);
        let cache = Arc::new(Cache::open(cache_config, Arc::new(SystemClock)).unwrap());
        let mut config = NodeConfig::loopback(bootstrap);
        adjust(&mut config);
        let identity = config.identity.clone();
        let client = start(config, cache.clone()).unwrap();
        Node { cache, client, identity, _dir: dir }
    }

    pub fn status(&self) -> PeerStatus {
        self.client.status()
    }

    pub fn peer_id(&self) -> libp2p::PeerId {
        self.identity.public().to_peer_id()
    }

    /// The address other nodes bootstrap from (waits until it is listening).
    pub async fn addr(&self) -> String {
        wait_for("a listen address", || self.status().listen_addrs.first().cloned()).await
    }

    pub async fn wait_peers(&self, count: usize) {
        wait_for(&format!("{count} peers"), || (self.status().peer_count == count).then_some(())).await
    }

    /// Until every connected peer is subscribed to announcements (what a
    /// publish reaches).
    pub async fn wait_all_subscribed(&self) {
        wait_for("every peer subscribed", || {
            let status = self.status();
            (status.peer_count > 0 && status.gossip.topic_peers == status.peer_count).then_some(())
        })
        .await
    }
}
