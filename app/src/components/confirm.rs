//! A confirmation box for changes that cannot be undone. It takes the focus
//! when it opens, so Enter confirms and Escape (or Tab to "Cancel") backs out.

use leptos::prelude::*;

/// A change waiting for confirmation.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending<T> {
    /// The question, in full.
    pub question: String,
    /// What the confirm button says.
    pub confirm: &'static str,
    /// What to do once confirmed.
    pub change: T,
}

#[component]
pub fn ConfirmBox<T>(
    /// Shown while `Some`; set back to `None` on either answer.
    pending: RwSignal<Option<Pending<T>>>,
    on_confirm: impl Fn(T) + Copy + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
{
    let confirm_button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(button) = confirm_button.get() {
            let _ = button.focus();
        }
    });
    let cancel = move || pending.set(None);
    view! {
        {move || pending.get().map(|asked| {
            let change = asked.change;
            view! {
            <div class="confirm" role="alertdialog" aria-labelledby="confirm-question" id="confirm-box"
                on:keydown=move |ev| if ev.key() == "Escape" { cancel() }>
                <p id="confirm-question">{asked.question}</p>
                <div class="confirm-buttons">
                    <button type="button" class="danger" id="confirm-yes" node_ref=confirm_button
                        on:click=move |_| {
                            pending.set(None);
                            on_confirm(change.clone());
                        }>
                        {asked.confirm}
                    </button>
                    <button type="button" class="refresh" id="confirm-no" on:click=move |_| cancel()>"Cancel"</button>
                </div>
            </div>
        }})}
    }
}
