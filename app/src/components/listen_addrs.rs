//! This node's addresses, ready to paste into another node's
//! `CACHE_BOOTSTRAP_PEERS`, each with a copy button.

use leptos::prelude::*;

use crate::components::copy_button::CopyButton;

#[component]
pub fn ListenAddrs(
    addrs: Vec<String>,
    /// Open from the start (the Peers tab) or folded (the Overview card).
    #[prop(optional)]
    open: bool,
) -> impl IntoView {
    if addrs.is_empty() {
        return view! { <p class="empty" id="listen-addrs-empty">"This node does not listen for peers."</p> }
            .into_any();
    }
    view! {
        <details class="listen-addrs" open=open>
            <summary>"Listen addresses (for CACHE_BOOTSTRAP_PEERS)"</summary>
            <ul id="listen-addrs">
                {addrs
                    .into_iter()
                    .map(|addr| view! { <li><code>{addr.clone()}</code><CopyButton text=addr label="Copy address"/></li> })
                    .collect_view()}
            </ul>
        </details>
    }
    .into_any()
}
