//! The Assets tab: release assets and source archives — the headline (the
//! bytes the fleet kept from GitHub), the blob store against its budget,
//! how downloads were answered, which peers sent pieces, and the downloads
//! in progress with their progress.

use leptos::prelude::*;

use crate::api::{failure_words, get_assets};
use crate::components::poll::use_polled;
use crate::format::{bytes, short_id};
use crate::model::AssetsView;

#[component]
pub fn Assets() -> impl IntoView {
    let (assets, refresh) = use_polled(|| (), |()| get_assets());
    view! {
        <div class="page-grid">
            <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                {move || Suspend::new(async move {
                    match assets.await {
                        Ok(assets) => view! { <AssetCards assets/> }.into_any(),
                        Err(error) => view! {
                            <p class="status-error" id="assets-error">{format!("⚠ Error loading: {}", failure_words(&error))}</p>
                        }.into_any(),
                    }
                })}
            </Transition>
            <button class="refresh" on:click=move |_| refresh()>"🔄 Refresh Assets"</button>
        </div>
    }
}

#[component]
fn AssetCards(assets: AssetsView) -> impl IntoView {
    let taken = assets.bytes_from_github + assets.bytes_from_peers;
    let headline = if taken == 0 {
        "No release asset or archive downloaded through this node yet.".to_owned()
    } else {
        format!(
            "{} of the {} this node took came from peers, {} from GitHub.",
            bytes(assets.bytes_from_peers),
            bytes(taken),
            bytes(assets.bytes_from_github)
        )
    };
    let transfers = assets.transfers.clone();
    let pieces_from = assets.pieces_from.clone();
    let failed = assets.failures > 0;
    view! {
        <section class="card wide" aria-labelledby="assets-headline-title">
            <h2 id="assets-headline-title">"Release assets and archives"</h2>
            <p class="headline" id="assets-headline">{headline}</p>
            <dl class="fields">
                <dt>"From GitHub"</dt><dd id="assets-from-github">{bytes(assets.bytes_from_github)}</dd>
                <dt>"From peers"</dt><dd id="assets-from-peers">{bytes(assets.bytes_from_peers)}</dd>
                <dt>"Sent to clients"</dt><dd id="assets-served">{bytes(assets.bytes_served)}</dd>
                <dt>"Sent to peers"</dt><dd id="assets-to-peers">{bytes(assets.bytes_to_peers)}</dd>
            </dl>
        </section>
        <section class="card" aria-labelledby="assets-sources-title">
            <h2 id="assets-sources-title">"Pieces from"</h2>
            {if pieces_from.is_empty() {
                view! { <p id="assets-sources">"No piece taken from a peer yet."</p> }.into_any()
            } else {
                view! {
                    <ul id="assets-sources" class="sources">
                        {pieces_from.into_iter().map(|source| view! {
                            <li><code title=source.peer_id.clone()>{short_id(&source.peer_id)}</code>" "{bytes(source.bytes)}</li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section class="card" aria-labelledby="assets-store-title">
            <h2 id="assets-store-title">"Blob store"</h2>
            <dl class="fields">
                <dt>"Files"</dt><dd id="assets-files">{assets.blobs_held}</dd>
                <dt>"Held"</dt><dd id="assets-held">{format!("{} of {}", bytes(assets.bytes_held), bytes(assets.budget_bytes))}</dd>
            </dl>
            <progress id="assets-budget" max=assets.budget_bytes.to_string() value=assets.bytes_held.to_string()></progress>
        </section>
        <section class="card" aria-labelledby="assets-downloads-title">
            <h2 id="assets-downloads-title">"Downloads"</h2>
            <dl class="fields">
                <dt>"From GitHub"</dt><dd id="assets-downloads-github">{assets.downloads_from_github}</dd>
                <dt>"From peers"</dt><dd id="assets-downloads-peers">{assets.downloads_from_peers}</dd>
                <dt>"Failed"</dt><dd id="assets-failures" class:status-error=failed>{assets.failures}</dd>
                <dt>"Answered"</dt>
                <dd id="assets-answers">{format!(
                    "{} from the store, {} following a download, {} fetched, {} passed on",
                    assets.hits, assets.coalesced, assets.misses, assets.passed
                )}</dd>
            </dl>
        </section>
        <section class="card wide" aria-labelledby="assets-transfers-title">
            <h2 id="assets-transfers-title">"In progress"</h2>
            {if transfers.is_empty() {
                view! { <p id="assets-transfers">"No download in progress."</p> }.into_any()
            } else {
                view! {
                    <ul id="assets-transfers" class="transfers">
                        {transfers.into_iter().map(|transfer| {
                            let of = transfer.size.map_or_else(|| "?".to_owned(), bytes);
                            let max = transfer.size.unwrap_or(transfer.bytes.max(1)).to_string();
                            view! {
                                <li>
                                    <code>{transfer.key.chars().take(19).collect::<String>()}"…"</code>
                                    <progress max=max value=transfer.bytes.to_string()></progress>
                                    {format!("{} of {of}", bytes(transfer.bytes))}
                                    {match transfer.peers {
                                        0 => String::new(),
                                        1 => ", with 1 peer".to_owned(),
                                        peers => format!(", with {peers} peers"),
                                    }}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}
