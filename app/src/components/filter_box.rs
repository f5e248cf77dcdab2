//! A search box whose text lives in the page and is echoed into the URL.
//! The box shows what was typed, never the URL's copy: the URL follows a
//! frame later, and feeding it back into the box would drop fast keystrokes.

use leptos::prelude::*;

#[component]
pub fn FilterBox(
    id: &'static str,
    label: &'static str,
    placeholder: &'static str,
    /// The text, as typed; seed it from the URL.
    typed: RwSignal<String>,
    /// Called with each new text, to write it into the URL.
    on_input: impl Fn(String) + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <label for=id>{label}</label>
        <input
            id=id
            type="search"
            spellcheck="false"
            autocomplete="off"
            placeholder=placeholder
            value=typed.get_untracked()
            prop:value=typed
            on:input=move |ev| {
                let text = event_target_value(&ev);
                typed.set(text.clone());
                on_input(text);
            }
        />
    }
}

/// A URL parameter for a text: none when it is empty.
pub fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}
