//! The banner that says the server cannot be reached. Cards report whether
//! their last poll came back; the banner shows while the latest did not, and
//! goes away by itself with the next good answer.

use leptos::prelude::*;

/// Whether the latest poll of any card reached the server.
#[derive(Clone, Copy)]
pub struct Reachable(pub RwSignal<bool>);

#[component]
pub fn UnreachableBanner() -> impl IntoView {
    let Reachable(reachable) = expect_context::<Reachable>();
    view! {
        <Show when=move || !reachable.get()>
            <div class="banner" role="alert" id="unreachable-banner">
                "⚠ The peercache server cannot be reached. The dashboard keeps asking every 5 s."
            </div>
        </Show>
    }
}
