//! A small button that copies a text (a peer id, a multiaddr) to the clipboard
//! and says so for a moment.

use leptos::prelude::*;

#[component]
pub fn CopyButton(
    /// What to copy.
    text: String,
    /// What the button is for, read by screen readers and shown as tooltip.
    label: &'static str,
) -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let copy = move |_| {
        copy_to_clipboard(text.clone());
        set_copied.set(true);
        set_timeout(move || set_copied.set(false), std::time::Duration::from_millis(1500));
    };
    view! {
        <button class="copy" type="button" title=label aria-label=label on:click=copy>
            {move || if copied.get() { "✓" } else { "📋" }}
        </button>
    }
}

#[cfg(feature = "hydrate")]
fn copy_to_clipboard(text: String) {
    if let Some(window) = web_sys::window() {
        let promise = window.navigator().clipboard().write_text(&text);
        wasm_bindgen_futures::spawn_local(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        });
    }
}

#[cfg(not(feature = "hydrate"))]
fn copy_to_clipboard(_text: String) {}
