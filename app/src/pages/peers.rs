//! The Peers tab: the table of connected peers with its filter, a form to
//! dial one more, and this node's own addresses to hand out.

use leptos::prelude::*;

use crate::api::{failure_words, get_peer_status};
use crate::components::admin_token::AdminTokenField;
use crate::components::connect_form::ConnectForm;
use crate::components::filter_box::{non_empty, FilterBox};
use crate::components::listen_addrs::ListenAddrs;
use crate::components::peer_table::{use_peer_view, PeerTable};
use crate::components::poll::use_polled;
use crate::format::node_state_badge;
use crate::model::PeerStatus;

#[component]
pub fn Peers() -> impl IntoView {
    let (status, refresh) = use_polled(|| (), |()| get_peer_status());
    let view = use_peer_view();
    let typed = RwSignal::new(view.query.get_untracked().unwrap_or_default());
    let failed = |error: ServerFnError| {
        view! { <p class="status-error">{format!("⚠ Error loading: {}", failure_words(&error))}</p> }.into_any()
    };
    view! {
        <div class="page-grid">
            <section class="card wide" aria-labelledby="peers-title">
                <h2 id="peers-title">"Connected peers"</h2>
                <div class="toolbar">
                    <FilterBox id="peer-filter" label="Filter" placeholder="peer id, address, agent…" typed
                        on_input=move |text| view.set_query.set(non_empty(text))
                    />
                </div>
                <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                    {move || Suspend::new(async move {
                        match status.await {
                            Ok(status) if status.peers.is_empty() => {
                                let (label, class) = node_state_badge(status.state);
                                view! {
                                    <p class="empty" id="peer-table-empty">
                                        "No peers connected. Node: "<span class=class>{label}</span>
                                        {status.reason.map(|why| format!(" — {why}"))}
                                    </p>
                                }.into_any()
                            }
                            Ok(status) => view! { <PeerTable peers=status.peers view/> }.into_any(),
                            Err(error) => failed(error),
                        }
                    })}
                </Transition>
                <button class="refresh" on:click=move |_| refresh()>"🔄 Refresh Peers"</button>
            </section>
            <section class="card" aria-labelledby="trust-title">
                <h2 id="trust-title">"Trust and refusals"</h2>
                <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                    {move || Suspend::new(async move {
                        match status.await {
                            Ok(status) => view! { <Refusals status/> }.into_any(),
                            Err(error) => failed(error),
                        }
                    })}
                </Transition>
            </section>
            <section class="card" aria-labelledby="connect-title">
                <h2 id="connect-title">"Connect to peer"</h2>
                <AdminTokenField/>
                <ConnectForm on_dialing=refresh/>
            </section>
            <section class="card" aria-labelledby="own-addrs-title">
                <h2 id="own-addrs-title">"This node's addresses"</h2>
                <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                    {move || Suspend::new(async move {
                        match status.await {
                            Ok(status) => view! { <ListenAddrs addrs=status.listen_addrs open=true/> }.into_any(),
                            Err(error) => failed(error),
                        }
                    })}
                </Transition>
            </section>
        </div>
    }
}

/// Whose GitHub answers this node takes, and what it refused from peers, by reason.
#[component]
fn Refusals(status: PeerStatus) -> impl IntoView {
    let trust = if status.enabled { status.trust } else { "— (P2P is off)".to_owned() };
    let reasons = status.refused_by_reason;
    view! {
        <p id="trust-policy">"GitHub answers are taken from: " <strong>{trust}</strong></p>
        <p id="refused-total">{format!("Refused from peers: {}", status.rejected_from_peers)}</p>
        {(!reasons.is_empty()).then(|| view! {
            <table class="data-table" id="refused-by-reason">
                <thead><tr><th scope="col">"Reason"</th><th scope="col">"Count"</th></tr></thead>
                <tbody>
                    {reasons.into_iter().map(|(reason, count)| {
                        let label = reason.clone();
                        view! { <tr data-reason=reason><td>{label}</td><td class="num">{count}</td></tr> }
                    }).collect_view()}
                </tbody>
            </table>
        })}
    }
}
