//! The connected peers under the P2P card: short id (with copy), address,
//! direction, latency and agent.

use leptos::prelude::*;

use crate::components::copy_button::CopyButton;
use crate::format::{latency, short_id};
use crate::model::PeerInfo;

#[component]
pub fn PeerList(peers: Vec<PeerInfo>) -> impl IntoView {
    if peers.is_empty() {
        return view! { <p class="empty" id="peer-list-empty">"No peers connected."</p> }.into_any();
    }
    view! {
        <ul class="peer-list" id="peer-list">
            {peers
                .into_iter()
                .map(|peer| {
                    view! {
                        <li class="peer" data-peer-id=peer.peer_id.clone()>
                            <span class="peer-id" title=peer.peer_id.clone()>{short_id(&peer.peer_id)}</span>
                            <CopyButton text=peer.peer_id.clone() label="Copy peer id"/>
                            <span class="peer-direction">{peer.direction}</span>
                            <span class="peer-latency">{latency(peer.latency_ms)}</span>
                            <span class="peer-agent">{peer.agent.unwrap_or_else(|| "—".into())}</span>
                            // Its own line under the id, however narrow the card.
                            <span class="peer-addr">{peer.addr}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}
