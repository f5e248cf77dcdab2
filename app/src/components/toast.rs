//! Toasts: a short note in the corner after every action, green when it
//! worked and red with the server's words when it did not. Each goes away by
//! itself after a few seconds or with its × button.

use std::time::Duration;

use leptos::prelude::*;

/// How long a toast stays.
const SHOWN_FOR: Duration = Duration::from_secs(6);

#[derive(Clone, Debug, PartialEq)]
struct Toast {
    id: u64,
    ok: bool,
    text: String,
}

/// The toasts on screen; provided once by the app, used by any action.
#[derive(Clone, Copy)]
pub struct Toasts {
    shown: RwSignal<Vec<Toast>>,
    next_id: StoredValue<u64>,
}

impl Toasts {
    pub fn new() -> Self {
        Toasts { shown: RwSignal::new(Vec::new()), next_id: StoredValue::new(0) }
    }

    /// Says that something worked.
    pub fn ok(&self, text: impl Into<String>) {
        self.push(true, text.into());
    }

    /// Says that something failed, and why.
    pub fn error(&self, text: impl Into<String>) {
        self.push(false, text.into());
    }

    fn push(&self, ok: bool, text: String) {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        self.shown.update(|shown| shown.push(Toast { id, ok, text }));
        let this = *self;
        set_timeout(move || this.dismiss(id), SHOWN_FOR);
    }

    fn dismiss(&self, id: u64) {
        self.shown.update(|shown| shown.retain(|t| t.id != id));
    }
}

impl Default for Toasts {
    fn default() -> Self {
        Toasts::new()
    }
}

/// Where toasts appear; read out by screen readers as they come.
#[component]
pub fn ToastHost() -> impl IntoView {
    let toasts = expect_context::<Toasts>();
    view! {
        <div class="toasts" aria-live="polite">
            <For each=move || toasts.shown.get() key=|toast| toast.id let:toast>
                <div class="toast" class:toast-error=!toast.ok role=if toast.ok { "status" } else { "alert" }>
                    <span class="toast-text">{toast.text}</span>
                    <button class="dismiss" type="button" aria-label="Dismiss" on:click=move |_| toasts.dismiss(toast.id)>
                        "×"
                    </button>
                </div>
            </For>
        </div>
    }
}
