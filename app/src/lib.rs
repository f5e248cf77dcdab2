//! The peercache dashboard: Leptos components, the JSON types they share with
//! the server, and the server functions they poll. Compiled twice: with `ssr`
//! into the server binary, with `hydrate` into the browser's WASM.

pub mod api;
pub mod charts;
pub mod components;
pub mod format;
pub mod model;
pub mod pages;

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{SsrMode, StaticSegment};

use crate::components::admin_token::AdminToken;
use crate::components::banner::{Reachable, UnreachableBanner};
use crate::components::node_header::NodeHeader;
use crate::components::toast::{ToastHost, Toasts};
use crate::pages::assets::Assets;
use crate::pages::cache::CachePage;
use crate::pages::charts::Charts;
use crate::pages::fleet::Fleet;
use crate::pages::overview::Overview;
use crate::pages::peers::Peers;

/// The whole HTML document, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <title>"peercache"</title>
                <link rel="stylesheet" href=format!("/pkg/{}.css", options.output_name)/>
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
    provide_context(Toasts::new());
    provide_context(AdminToken(RwSignal::new(String::new())));
    view! {
        <Router>
            <header class="topbar">
                <h1>"peercache"</h1>
                <p class="tagline">"GitHub API cache shared over libp2p"</p>
                <NodeHeader/>
            </header>
            <nav class="tabs" aria-label="Dashboard sections">
                <A href="/" exact=true>"Overview"</A>
                <A href="/charts">"Charts"</A>
                <A href="/peers">"Peers"</A>
                <A href="/cache">"Cache"</A>
                <A href="/fleet">"Fleet"</A>
                <A href="/assets">"Assets"</A>
            </nav>
            <UnreachableBanner/>
            <main data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                    // Async: the first HTML already carries the real values.
                    <Route path=StaticSegment("") view=Overview ssr=SsrMode::Async/>
                    <Route path=StaticSegment("charts") view=Charts ssr=SsrMode::Async/>
                    <Route path=StaticSegment("peers") view=Peers ssr=SsrMode::Async/>
                    <Route path=StaticSegment("cache") view=CachePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("fleet") view=Fleet ssr=SsrMode::Async/>
                    <Route path=StaticSegment("assets") view=Assets ssr=SsrMode::Async/>
                </Routes>
            </main>
            <ToastHost/>
        </Router>
    }
}
