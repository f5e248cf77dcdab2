//! One cache entry as JSON: its value and everything known about it, exactly
//! as `GET /api/cache/entry` shows it.

use leptos::prelude::*;

use crate::api::{failure_words, get_entry_json};
use crate::components::copy_button::CopyButton;

#[component]
pub fn EntryView(key: String, on_close: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let asked = key.clone();
    let json = Resource::new(move || asked.clone(), get_entry_json);
    view! {
        <section class="card wide" id="entry-view" aria-labelledby="entry-view-title">
            <h2 id="entry-view-title">"Entry "<code>{key}</code></h2>
            <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                {move || Suspend::new(async move {
                    match json.await {
                        Ok(json) => view! {
                            <CopyButton text=json.clone() label="Copy the entry's JSON"/>
                            <pre id="entry-json">{json}</pre>
                        }.into_any(),
                        Err(error) => view! { <p class="status-error" id="entry-json-error">{failure_words(&error)}</p> }.into_any(),
                    }
                })}
            </Transition>
            <button type="button" class="refresh" id="entry-close" on:click=move |_| on_close()>"Close"</button>
        </section>
    }
}
