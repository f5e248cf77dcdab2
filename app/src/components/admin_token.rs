//! The admin token the dashboard sends with every change. Only asked for when
//! the server says it needs one (it listens off loopback); kept in memory for
//! this page only, never in the URL or in storage.

use leptos::prelude::*;

use crate::api::get_node_info;

/// What the user typed; empty when nothing.
#[derive(Clone, Copy)]
pub struct AdminToken(pub RwSignal<String>);

impl AdminToken {
    /// The token to send with a change.
    pub fn value(&self) -> String {
        self.0.get_untracked()
    }
}

/// A password field for the token, shown only when the server wants one.
#[component]
pub fn AdminTokenField() -> impl IntoView {
    let AdminToken(token) = expect_context::<AdminToken>();
    let info = Resource::new(|| (), |()| get_node_info());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                info.await.ok().filter(|info| info.admin_required).map(|_| view! {
                    <label class="admin-token">
                        "Admin token (this server changes the cache only with it)"
                        <input
                            type="password"
                            id="admin-token"
                            autocomplete="off"
                            prop:value=move || token.get()
                            on:input=move |ev| token.set(event_target_value(&ev))
                        />
                    </label>
                })
            })}
        </Transition>
    }
}
