//! The peercache dashboard: Leptos components, the JSON types they share with
//! the server, and the server functions they poll. Compiled twice: with `ssr`
//! into the server binary, with `hydrate` into the browser's WASM.

pub mod api;
pub mod components;
pub mod format;
pub mod model;
pub mod pages;

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, StaticSegment};

use crate::components::banner::{Reachable, UnreachableBanner};
use crate::components::node_header::NodeHeader;
use crate::pages::overview::Overview;

/// The whole HTML document, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <title>"peercache"</title>
                <link rel="stylesheet" href="/pkg/peercache.css"/>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The dashboard; mounted by the browser's hydrate entry.
#[component]
pub fn App() -> impl IntoView {
    // Effects run only in the browser, after hydration: the marker tells
    // tests (and curious people) that the page is live.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    provide_context(Reachable(RwSignal::new(true)));
    view! {
        <Router>
            <header class="topbar">
                <h1>"peercache"</h1>
                <p class="tagline">"GitHub API cache shared over libp2p"</p>
                <NodeHeader/>
            </header>
            <UnreachableBanner/>
            <main data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                    // Async: the first HTML already carries the real values.
                    <Route path=StaticSegment("") view=Overview ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
