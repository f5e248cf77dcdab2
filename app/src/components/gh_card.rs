//! The "gh" card: whether `gh` can be pointed at this node's socket, and the
//! one command that does it.

use leptos::prelude::*;

use crate::api::get_node_info;
use crate::components::copy_button::CopyButton;
use crate::components::polled_card::PolledCard;
use crate::format::ERROR_LOADING;
use crate::model::NodeInfo;

#[component]
pub fn GhCard() -> impl IntoView {
    view! {
        <PolledCard
            title="🐙 gh"
            title_id="gh-card-title"
            button="🔄 Refresh gh"
            fetch=get_node_info
            ok=|info| view! { <GhFields info/> }.into_any()
            error=|error| {
                let (label, class) = ERROR_LOADING;
                view! { <p id="gh-socket" class=class title=error>{label}</p> }.into_any()
            }
        />
    }
}

#[component]
fn GhFields(info: NodeInfo) -> impl IntoView {
    match info.gh_socket {
        Some(socket) => {
            let command = format!("gh config set http_unix_socket {socket}");
            view! {
                <p id="gh-socket" class="status-ok">"✓ Listening on " <code>{socket}</code></p>
                <p>"Every gh command on this machine goes through peercache after:"</p>
                <p class="command">
                    <code id="gh-command">{command.clone()}</code>
                    <CopyButton text=command label="Copy the gh command"/>
                </p>
            }
            .into_any()
        }
        None => view! {
            <p id="gh-socket" class="status-off">"✗ Off"</p>
            <p>"The gh socket is switched off (--gh-socket \"\"); gh talks to GitHub directly."</p>
        }
        .into_any(),
    }
}
