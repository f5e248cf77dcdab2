//! The shape every dashboard card shares: a titled section that asks the
//! server with `fetch` every `POLL_PERIOD` and when its button is pressed,
//! showing the answer with `ok` or the failure with `error`. While a new
//! answer is on its way the previous one stays (no flicker to "Loading...").

use std::future::Future;

use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::components::poll::use_polled;
use crate::format::ERROR_LOADING;

#[component]
pub fn PolledCard<T, Fut, Ok, Error>(
    /// The card's heading.
    title: &'static str,
    /// Id of the heading, which labels the section.
    title_id: &'static str,
    /// Text of the refresh button.
    button: &'static str,
    /// The server function to ask.
    fetch: fn() -> Fut,
    /// How an answer looks.
    ok: Ok,
    /// How a failure (the server could not be asked) looks.
    error: Error,
) -> impl IntoView
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ServerFnError>> + Send + 'static,
    Ok: Fn(T) -> AnyView + Copy + Send + Sync + 'static,
    Error: Fn(String) -> AnyView + Copy + Send + Sync + 'static,
{
    let (answer, refresh) = use_polled(|| (), move |()| fetch());
    view! {
        <section class="card" aria-labelledby=title_id>
            <h2 id=title_id>{title}</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                {move || Suspend::new(async move {
                    match answer.await {
                        Result::Ok(value) => ok(value),
                        Err(failure) => error(failure.to_string()),
                    }
                })}
            </Transition>
            <button class="refresh" on:click=move |_| refresh()>{button}</button>
        </section>
    }
}

/// How a card without fields of its own says the server could not be asked:
/// "⚠ Error loading", with the reason as tooltip.
pub fn error_line(error: String) -> AnyView {
    let (label, class) = ERROR_LOADING;
    view! { <p class=class title=error>{label}</p> }.into_any()
}
