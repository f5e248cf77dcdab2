//! The Fleet tab: every node of the fleet as its own signed summary says —
//! version, state, peers, hits and misses, GitHub calls made and saved, the
//! tightest rate limit, the store, trouble — with the fleet's totals and the
//! headline a team cares about: GitHub calls saved in the last hour, and the
//! rate limit kept. Nodes on another version than most, nodes in trouble and
//! nodes gone stand out; untrusted nodes are shown apart and never summed.

use leptos::prelude::*;

use crate::api::{failure_words, get_fleet};
use crate::components::poll::use_polled;
use crate::format::{bytes, duration_words, short_id};
use crate::model::{FleetNode, FleetState, FleetView};

#[component]
pub fn Fleet() -> impl IntoView {
    let (fleet, refresh) = use_polled(|| (), |()| get_fleet());
    view! {
        <div class="page-grid">
            <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                {move || Suspend::new(async move {
                    match fleet.await {
                        Ok(fleet) => view! { <FleetCards fleet/> }.into_any(),
                        Err(error) => view! {
                            <p class="status-error" id="fleet-error">{format!("⚠ Error loading: {}", failure_words(&error))}</p>
                        }.into_any(),
                    }
                })}
            </Transition>
            <button class="refresh" on:click=move |_| refresh()>"🔄 Refresh Fleet"</button>
        </div>
    }
}

#[component]
fn FleetCards(fleet: FleetView) -> impl IntoView {
    let totals = fleet.totals.clone();
    let kept = totals.core_remaining_min.map_or_else(
        || "no node has reported a core rate limit yet".to_owned(),
        |left| format!("the tightest core rate limit in the fleet has {left} requests left"),
    );
    let versions = (!totals.versions.is_empty()).then(|| {
        view! { <p class="status-warn" id="fleet-versions">{format!("⚠ Versions differ: {}", totals.versions.join(", "))}</p> }
    });
    let (trusted, apart): (Vec<FleetNode>, Vec<FleetNode>) = fleet.nodes.into_iter().partition(|node| node.trusted);
    // The version most nodes run: the others stand out.
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for node in &trusted {
        *counts.entry(node.summary.version.clone()).or_default() += 1;
    }
    let usual = counts.into_iter().max_by_key(|(_, n)| *n).map(|(v, _)| v).unwrap_or_default();
    view! {
        <section class="card wide" aria-labelledby="fleet-headline-title">
            <h2 id="fleet-headline-title">"The fleet"</h2>
            <p class="headline" id="fleet-headline">
                <strong>{format!("{} GitHub calls saved in the last hour", totals.calls_saved_last_hour)}</strong>
                {format!(" by {} node(s) up; {kept}.", totals.nodes_up)}
            </p>
            {versions}
            <dl class="fields" id="fleet-totals">
                <dt>"Nodes up"</dt><dd id="fleet-nodes-up">{totals.nodes_up}</dd>
                <dt>"Nodes gone"</dt><dd id="fleet-nodes-gone">{totals.nodes_gone}</dd>
                <dt>"GitHub calls made"</dt><dd id="fleet-upstream-calls">{totals.upstream_calls}</dd>
                <dt>"GitHub calls saved"</dt><dd id="fleet-calls-saved">{totals.calls_saved}</dd>
                <dt>"Free confirmations (last hour)"</dt><dd id="fleet-free-confirmations">{totals.free_confirmations_last_hour}</dd>
                <dt>"Hits / misses"</dt><dd id="fleet-hits">{format!("{} / {}", totals.hits, totals.misses)}</dd>
                <dt>"Stored"</dt><dd id="fleet-stored">{format!("{} entries, {}", totals.store_entries, bytes(totals.store_bytes))}</dd>
            </dl>
        </section>
        <section class="card wide" aria-labelledby="fleet-nodes-title">
            <h2 id="fleet-nodes-title">"Nodes"</h2>
            <NodeTable id="fleet-table" nodes=trusted usual=usual.clone()/>
        </section>
        {(!apart.is_empty()).then(|| view! {
            <section class="card wide" aria-labelledby="fleet-untrusted-title">
                <h2 id="fleet-untrusted-title">"Untrusted nodes (not counted)"</h2>
                <NodeTable id="fleet-untrusted" nodes=apart usual/>
            </section>
        })}
    }
}

#[component]
fn NodeTable(id: &'static str, nodes: Vec<FleetNode>, usual: String) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="data-table" id=id>
                <thead>
                    <tr>
                        <th scope="col">"Node"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Version"</th>
                        <th scope="col">"Up for"</th>
                        <th scope="col">"Peers"</th>
                        <th scope="col">"Hits / misses"</th>
                        <th scope="col">"GitHub calls"</th>
                        <th scope="col">"Saved"</th>
                        <th scope="col">"Rate limit left"</th>
                        <th scope="col">"Stored"</th>
                        <th scope="col">"Trouble"</th>
                    </tr>
                </thead>
                <tbody>
                    {nodes.into_iter().map(|node| {
                        let gone = node.state == FleetState::Gone;
                        let s = node.summary;
                        let troubled = s.trouble.is_some();
                        let other_version = s.version != usual;
                        let limits = s.rate_limits.iter()
                            .map(|l| format!("{} {}/{}", l.resource, l.remaining, l.limit))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let name = if node.this_node { format!("{} (this node)", short_id(&node.peer_id)) } else { short_id(&node.peer_id) };
                        view! {
                            <tr data-peer-id=node.peer_id.clone() class:gone=gone class:trouble=troubled>
                                <td title=node.peer_id.clone()><code>{name}</code></td>
                                <td class="fleet-state" class:status-ok=!gone class:status-error=gone>{if gone { "✗ gone" } else { "✓ up" }}</td>
                                <td class="fleet-version" class:status-warn=other_version>{s.version}</td>
                                <td class="num">{duration_words(s.uptime_secs)}</td>
                                <td class="num">{s.peers}</td>
                                <td class="num">{format!("{} / {}", s.hits, s.misses)}</td>
                                <td class="num fleet-upstream">{s.upstream_calls}</td>
                                <td class="num fleet-saved">{s.calls_saved}</td>
                                <td>{if limits.is_empty() { "—".to_owned() } else { limits }}</td>
                                <td class="num">{format!("{} · {}", s.store_entries, bytes(s.store_bytes))}</td>
                                <td class="fleet-trouble" class:status-error=troubled>{s.trouble.unwrap_or_else(|| "—".to_owned())}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
