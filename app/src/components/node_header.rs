//! The header's node line: host name, peer id (with copy), version, a live
//! uptime and how long ago the dashboard last heard from the server.

use leptos::prelude::*;

use crate::api::get_node_info;
use crate::components::copy_button::CopyButton;
use crate::components::poll::{use_poll, POLL_PERIOD};
use crate::format::{duration_words, short_id};

#[component]
pub fn NodeHeader() -> impl IntoView {
    let (tick, _) = use_poll(POLL_PERIOD);
    let info = Resource::new(move || tick.get(), |_| get_node_info());
    // Seconds since the last good answer, counted in the browser.
    let (since, set_since) = signal(0u64);
    Effect::new(move |_| {
        if let Some(Ok(_)) = info.get() {
            set_since.set(0);
        }
    });
    Effect::new(move |_| {
        let handle =
            set_interval_with_handle(move || set_since.update(|s| *s += 1), std::time::Duration::from_secs(1)).ok();
        on_cleanup(move || {
            if let Some(handle) = handle {
                handle.clear();
            }
        });
    });
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                info.await.ok().map(|info| {
                    let peer_id = info.peer_id.clone();
                    view! {
                        <div class="node-line">
                            <span id="node-name">{info.name}</span>
                            {peer_id.map(|id| view! {
                                <code id="header-peer-id" title=id.clone()>{short_id(&id)}</code>
                                <CopyButton text=id label="Copy this node's peer id"/>
                            })}
                            <span id="node-version">{format!("peercache {}", info.version)}</span>
                            <span id="node-upstream" title="The GitHub API this node asks">{format!("→ {}", info.upstream)}</span>
                            <span id="node-uptime">{move || format!("up {}", duration_words(info.uptime_secs + since.get()))}</span>
                            <span id="last-updated">{move || format!("updated {} s ago", since.get())}</span>
                        </div>
                    }
                })
            })}
        </Transition>
    }
}
