//! A small button that copies a text (a peer id, a multiaddr) to the clipboard
//! and says so with a toast, or says why it could not: browsers offer the
//! clipboard only to HTTPS and localhost pages, and a dashboard opened as
//! `http://runner-7:8899` is neither.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::toast::Toasts;
use crate::format::ellipsis;

#[component]
pub fn CopyButton(
    /// What to copy.
    text: String,
    /// What the button is for, read by screen readers and shown as tooltip.
    label: &'static str,
) -> impl IntoView {
    let toasts = use_context::<Toasts>();
    let (copied, set_copied) = signal(false);
    let copy = move |_| {
        let text = text.clone();
        spawn_local(async move {
            match copy_to_clipboard(&text).await {
                Ok(()) => {
                    set_copied.set(true);
                    set_timeout(move || set_copied.set(false), std::time::Duration::from_millis(1500));
                    toasts.inspect(|t| t.ok(format!("Copied: {}", ellipsis(&text, 64))));
                }
                Err(why) => {
                    toasts.inspect(|t| t.error(format!("Could not copy: {why}")));
                }
            }
        });
    };
    view! {
        <button class="copy" type="button" title=label aria-label=label on:click=copy>
            {move || if copied.get() { "✓" } else { "📋" }}
        </button>
    }
}

#[cfg(feature = "hydrate")]
async fn copy_to_clipboard(text: &str) -> Result<(), String> {
    use wasm_bindgen::JsValue;
    let navigator = web_sys::window().ok_or("no browser window")?.navigator();
    let available = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard")).is_ok_and(|c| !c.is_undefined());
    if !available {
        return Err("the browser offers the clipboard only on HTTPS or localhost pages; select the text instead".into());
    }
    wasm_bindgen_futures::JsFuture::from(navigator.clipboard().write_text(text))
        .await
        .map(|_| ())
        .map_err(|e| e.as_string().unwrap_or_else(|| "the browser refused".into()))
}

#[cfg(not(feature = "hydrate"))]
async fn copy_to_clipboard(_text: &str) -> Result<(), String> {
    Err("copying needs the browser".into())
}
