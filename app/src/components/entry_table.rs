//! One page of the cache browser: key, size, age, TTL left, origin and CID
//! of each entry, with buttons to view or invalidate it, and the pager.

use leptos::prelude::*;

use crate::components::copy_button::CopyButton;
use crate::format::{bytes, duration_words, entries, origin, short_id};
use crate::model::{EntryPage, EntrySummary};

#[component]
pub fn EntryTable(
    page: EntryPage,
    /// The 1-based page shown.
    page_no: usize,
    page_size: usize,
    on_view: impl Fn(String) + Copy + Send + Sync + 'static,
    on_invalidate: impl Fn(String) + Copy + Send + Sync + 'static,
    on_page: impl Fn(usize) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let pages = page.total.div_ceil(page_size).max(1);
    if page.total == 0 {
        return view! { <p class="empty" id="entry-count">"No entries match."</p> }.into_any();
    }
    view! {
        <p class="match-count" id="entry-count">{format!("{} {}", entries(page.total), if page.total == 1 { "matches" } else { "match" })}</p>
        <div class="table-scroll">
            <table class="data-table" id="entry-table">
                <thead>
                    <tr>
                        <th scope="col">"Key"</th>
                        <th scope="col">"Size"</th>
                        <th scope="col">"Age"</th>
                        <th scope="col">"TTL left"</th>
                        <th scope="col">"Origin"</th>
                        <th scope="col">"CID"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {page.entries.into_iter().map(|entry| view! { <EntryRow entry on_view on_invalidate/> }).collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Pages of entries">
            <button type="button" class="refresh" id="page-prev" disabled={page_no <= 1} on:click=move |_| on_page(page_no - 1)>
                "‹ Previous"
            </button>
            <span id="page-label">{format!("Page {page_no} of {pages}")}</span>
            <button type="button" class="refresh" id="page-next" disabled={page_no >= pages} on:click=move |_| on_page(page_no + 1)>
                "Next ›"
            </button>
        </nav>
    }
    .into_any()
}

#[component]
fn EntryRow(
    entry: EntrySummary,
    on_view: impl Fn(String) + Copy + Send + Sync + 'static,
    on_invalidate: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let key = entry.key.clone();
    let key_for_invalidate = entry.key.clone();
    let ttl = if entry.expired { "expired".to_owned() } else { duration_words(entry.ttl_left_secs) };
    view! {
        <tr data-key=entry.key.clone()>
            <td class="entry-key">
                <button type="button" class="link" title="View this entry's JSON" on:click=move |_| on_view(key.clone())>
                    {entry.key.clone()}
                </button>
            </td>
            <td class="num">{bytes(entry.size)}</td>
            <td class="num">{duration_words(entry.age_secs)}</td>
            <td class="num" class:status-warn=entry.expired>{ttl}</td>
            <td class="entry-origin" title=entry.origin.clone()>{origin(&entry.origin)}</td>
            <td class="entry-cid">
                <code title=entry.cid.clone()>{short_id(&entry.cid)}</code>
                <CopyButton text=entry.cid.clone() label="Copy CID"/>
            </td>
            <td>
                <button type="button" class="copy invalidate-one" aria-label=format!("Invalidate {}", entry.key)
                    title="Invalidate this entry" on:click=move |_| on_invalidate(key_for_invalidate.clone())>
                    "🗑"
                </button>
            </td>
        </tr>
    }
}
