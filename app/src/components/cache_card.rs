//! The "Cache Statistics" card: entries, size and hit rate of the local
//! cache, and the memory it keeps besides its entries.

use leptos::prelude::*;

use crate::api::get_cache_stats;
use crate::components::polled_card::PolledCard;
use crate::format::{bytes, megabytes, percent, ERROR_LOADING};
use crate::model::CacheStats;

#[component]
pub fn CacheCard() -> impl IntoView {
    view! {
        <PolledCard
            title="Cache Statistics"
            title_id="cache-card-title"
            button="📊 Refresh Cache"
            fetch=get_cache_stats
            ok=|stats| view! { <CacheFields stats/> }.into_any()
            error=|error| view! { <CacheError error/> }.into_any()
        />
    }
}

#[component]
fn CacheFields(stats: CacheStats) -> impl IntoView {
    view! {
        <dl class="fields">
            <dt>"Entries"</dt>
            <dd id="cache-entries">{stats.total_entries}</dd>
            <dt>"Size"</dt>
            <dd id="cache-size">{megabytes(stats.total_size_mb)}</dd>
            <dt>"Hit Rate"</dt>
            <dd id="cache-hit-rate">{percent(stats.hit_rate)}</dd>
            <dt>"Local Hits"</dt>
            <dd id="cache-local-hits">{stats.local_hits}</dd>
            <dt>"Peer Hits"</dt>
            <dd id="cache-peer-hits">{stats.peer_hits}</dd>
            <dt>"Misses"</dt>
            <dd id="cache-misses">{stats.misses}</dd>
            <dt>"Calls Saved"</dt>
            <dd id="cache-calls-saved">{stats.api_calls_saved}</dd>
            <dt>"Memory"</dt>
            <dd id="cache-memory" title="Besides the entries: GitHub answers kept decoded and ready to send (bounded), and the store's page cache (its bound)">
                {format!(
                    "{} answers ready ({} of {}), store pages {}",
                    stats.memory.ready_answers,
                    bytes(stats.memory.ready_bytes),
                    bytes(stats.memory.ready_budget_bytes),
                    bytes(stats.memory.page_cache_bytes),
                )}
            </dd>
        </dl>
    }
}

#[component]
fn CacheError(error: String) -> impl IntoView {
    let (label, class) = ERROR_LOADING;
    view! {
        <dl class="fields">
            <dt>"Entries"</dt>
            <dd id="cache-entries" class=class title=error>{label}</dd>
            <dt>"Size"</dt>
            <dd id="cache-size">"—"</dd>
            <dt>"Hit Rate"</dt>
            <dd id="cache-hit-rate">"—"</dd>
        </dl>
    }
}
