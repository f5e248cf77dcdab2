//! The Cache tab: browse entries by key prefix a page at a time, view one as
//! JSON, invalidate one or all that match (after a confirmation; those that
//! match on every node when asked), and read the log of calls that went
//! upstream. Prefix, page and the entry viewed
//! live in the URL.

use leptos::prelude::*;
use leptos_router::hooks::query_signal_with_options;
use leptos_router::NavigateOptions;

use crate::api::{failure_words, invalidate, list_entries};
use crate::components::admin_token::{AdminToken, AdminTokenField};
use crate::components::call_log::CallLog;
use crate::components::confirm::{ConfirmBox, Pending};
use crate::components::entry_table::EntryTable;
use crate::components::entry_view::EntryView;
use crate::components::filter_box::{non_empty, FilterBox};
use crate::components::poll::use_polled;
use crate::components::toast::Toasts;
use crate::format::{entries as entries_words, invalidated};
use crate::model::{Invalidation, Reach};

/// Entries per page.
pub const PAGE_SIZE: usize = 25;

#[component]
pub fn CachePage() -> impl IntoView {
    let options = || NavigateOptions { replace: true, scroll: false, ..NavigateOptions::default() };
    let (prefix, set_prefix) = query_signal_with_options::<String>("prefix", options());
    let (page, set_page) = query_signal_with_options::<usize>("page", options());
    let (viewing, set_viewing) = query_signal_with_options::<String>("entry", options());
    let page_no = Memo::new(move |_| page.get().unwrap_or(1).max(1));
    let typed = RwSignal::new(prefix.get_untracked().unwrap_or_default());
    let (entries, refresh) = use_polled(
        move || (typed.get(), page_no.get()),
        |(prefix, page)| list_entries(prefix, (page - 1) * PAGE_SIZE, PAGE_SIZE),
    );

    // A page past the end (entries went away, or an old link): go to the last one.
    Effect::new(move |_| {
        if let Some(Ok(found)) = entries.get() {
            let last = found.total.div_ceil(PAGE_SIZE).max(1);
            if page_no.get_untracked() > last {
                set_page.set((last > 1).then_some(last));
            }
        }
    });

    let toasts = expect_context::<Toasts>();
    let token = expect_context::<AdminToken>();
    let ask = RwSignal::new(None::<Pending<(Invalidation, Reach)>>);
    let fleet = RwSignal::new(false);
    let clear = Action::new(|((target, reach), token): &((Invalidation, Reach), String)| {
        invalidate(target.clone(), *reach, token.clone())
    });
    Effect::new(move |_| match clear.value().get() {
        Some(Ok(done)) => {
            toasts.ok(format!("Cache cleared: {}", invalidated(done.invalidated, done.told_peers)));
            // The entry on view may be one of those gone.
            if viewing.get_untracked().is_some_and(|key| key.starts_with(&done.pattern)) {
                set_viewing.set(None);
            }
            refresh();
        }
        Some(Err(error)) => toasts.error(format!("Could not invalidate: {}", failure_words(&error))),
        None => {}
    });
    let run = move |change: (Invalidation, Reach)| {
        clear.dispatch((change, token.value()));
    };
    let ask_one = move |key: String| {
        ask.set(Some(Pending {
            question: format!("Invalidate the entry \"{key}\"?"),
            confirm: "🗑 Invalidate",
            change: (Invalidation::Key(key), Reach::Node),
        }))
    };
    let ask_prefix = move |_| {
        let pattern = typed.get_untracked();
        let count = entries
            .get_untracked()
            .and_then(Result::ok)
            .map_or_else(|| "all matching entries".to_owned(), |page| entries_words(page.total));
        let (reach, count, everything) = match fleet.get_untracked() {
            true => (Reach::Fleet, format!("on every node; {count} here"), "on every node"),
            false => (Reach::Node, count, "in this node's cache"),
        };
        let (question, target) = if pattern.is_empty() {
            (format!("Invalidate every entry {everything} ({count})?"), Invalidation::All)
        } else {
            (
                format!("Invalidate every entry whose key starts with \"{pattern}\" ({count})?"),
                Invalidation::Prefix(pattern),
            )
        };
        ask.set(Some(Pending { question, confirm: "🗑 Invalidate", change: (target, reach) }));
    };

    view! {
        <div class="page-grid">
            <section class="card wide" aria-labelledby="browser-title">
                <h2 id="browser-title">"Cache entries"</h2>
                <div class="toolbar">
                    <FilterBox id="cache-prefix" label="Key prefix" placeholder="e.g. github:GET:/repos/" typed
                        on_input=move |text| {
                            set_prefix.set(non_empty(text));
                            set_page.set(None);
                        }
                    />
                    <button type="button" class="danger" id="invalidate-prefix" on:click=ask_prefix>
                        "🗑 Invalidate matching…"
                    </button>
                    <label class="check" for="invalidate-fleet">
                        <input type="checkbox" id="invalidate-fleet"
                            prop:checked=move || fleet.get()
                            on:change=move |ev| fleet.set(event_target_checked(&ev))/>
                        "on every node"
                    </label>
                </div>
                <p class="hint" id="invalidate-hint">
                    "Invalidating drops this node's copies and takes no older ones back from peers; "
                    "peers keep theirs unless “on every node” is ticked."
                </p>
                <AdminTokenField/>
                <ConfirmBox pending=ask on_confirm=run/>
                <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                    {move || Suspend::new(async move {
                        match entries.await {
                            Ok(page) => view! {
                                <EntryTable
                                    page
                                    page_no=page_no.get_untracked()
                                    page_size=PAGE_SIZE
                                    on_view=move |key| set_viewing.set(Some(key))
                                    on_invalidate=ask_one
                                    on_page=move |n| set_page.set((n > 1).then_some(n))
                                />
                            }.into_any(),
                            Err(error) => view! {
                                <p class="status-error" id="entry-count">{format!("⚠ Error loading: {}", failure_words(&error))}</p>
                            }.into_any(),
                        }
                    })}
                </Transition>
                <button class="refresh" on:click=move |_| refresh()>"🔄 Refresh Entries"</button>
            </section>
            {move || viewing.get().map(|key| view! { <EntryView key on_close=move || set_viewing.set(None)/> })}
            <div class="wide">
                <CallLog/>
            </div>
        </div>
    }
}
