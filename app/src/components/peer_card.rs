//! The "P2P Peer System" card: node state with its colour, peer count and
//! whether P2P is enabled (with the reason as a tooltip).

use leptos::prelude::*;

use crate::api::get_peer_status;
use crate::components::copy_button::CopyButton;
use crate::components::listen_addrs::ListenAddrs;
use crate::components::peer_list::PeerList;
use crate::components::polled_card::PolledCard;
use crate::format::{enabled_label, node_state_badge, ERROR_LOADING};
use crate::model::PeerStatus;

#[component]
pub fn PeerCard() -> impl IntoView {
    view! {
        <PolledCard
            title="P2P Peer System"
            title_id="peer-card-title"
            button="🔄 Refresh Peers"
            fetch=get_peer_status
            ok=|status| view! { <PeerFields status/> }.into_any()
            error=|error| view! { <PeerError error/> }.into_any()
        />
    }
}

#[component]
fn PeerFields(status: PeerStatus) -> impl IntoView {
    let (label, class) = node_state_badge(status.state);
    let reason = status.reason.clone().unwrap_or_default();
    let enabled_title = if status.enabled { String::new() } else { reason.clone() };
    let own_id = status.peer_id.clone().map(|id| {
        view! {
            <dt>"Peer ID"</dt>
            <dd class="own-id">
                <code id="own-peer-id">{id.clone()}</code>
                <CopyButton text=id label="Copy this node's peer id"/>
            </dd>
        }
    });
    let gossip = status.gossip.clone();
    // Peers connected but not hearing announcements: the push has stopped.
    let stalled = status.peer_count > 0 && (gossip.topic_peers == 0 || gossip.low_score_peers > 0);
    view! {
        <dl class="fields">
            <dt>"Status"</dt>
            <dd id="peer-status" class=class title=reason.clone()>{label}</dd>
            <dt>"Active Peers"</dt>
            <dd id="peer-count">{status.peer_count}</dd>
            <dt>"P2P Enabled"</dt>
            <dd id="p2p-enabled" title=enabled_title>{enabled_label(status.enabled)}</dd>
            {status.enabled.then(|| view! {
                <dt>"Gossip"</dt>
                <dd id="gossip-health" class:status-warn=stalled
                    title="peers subscribed to announcements, peers in this node's gossip mesh, peers scored below the gossip threshold">
                    {format!("{} subscribed, {} in mesh, {} low score", gossip.topic_peers, gossip.mesh_peers, gossip.low_score_peers)}
                </dd>
            })}
            {own_id}
        </dl>
        <p class="reason" id="peer-reason">{reason}</p>
        {status.sharing_warning.map(|warning| view! {
            <p class="status-warn" id="sharing-warning">{format!("⚠ Sharing: {warning}")}</p>
        })}
        {(!status.bootstrap_problems.is_empty()).then(|| view! {
            <ul class="problems" id="bootstrap-problems" aria-label="Bootstrap problems">
                {status.bootstrap_problems.into_iter().map(|problem| view! { <li class="status-warn">{problem}</li> }).collect_view()}
            </ul>
        })}
        <ListenAddrs addrs=status.listen_addrs/>
        <PeerList peers=status.peers/>
    }
}

#[component]
fn PeerError(error: String) -> impl IntoView {
    let (label, class) = ERROR_LOADING;
    view! {
        <dl class="fields">
            <dt>"Status"</dt>
            <dd id="peer-status" class=class title=error.clone()>{label}</dd>
            <dt>"Active Peers"</dt>
            <dd id="peer-count">"—"</dd>
            <dt>"P2P Enabled"</dt>
            <dd id="p2p-enabled">"—"</dd>
        </dl>
        <p class="reason" id="peer-reason">{format!("The server could not be reached: {error}")}</p>
    }
}
