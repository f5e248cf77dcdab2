//! What every handler shares: the core, the dashboard's Leptos options and
//! the metrics registry. Axum clones the state for every request (and every
//! middleware that takes it), so it is one `Arc`.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use prometheus_client::registry::Registry;

use crate::cache::ttl::{Clock, SystemClock};
use crate::config::ServeConfig;
use crate::core::Core;
use crate::http::assets::Bundle;
use crate::http::guard::KnownHosts;
use crate::http::metrics::{new_registry, AssetsCollector, StatsCollector};

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub core: Core,
    pub leptos_options: LeptosOptions,
    /// Prometheus registry behind `/metrics`.
    pub metrics: Arc<Registry>,
    /// The names changes may be sent to (see `guard`).
    pub known_hosts: Arc<KnownHosts>,
    /// The API host `gh` names on its socket.
    pub gh_host: Arc<str>,
    /// The dashboard's WASM bundle inside this binary, if it was built with one.
    pub bundle: Option<Bundle>,
}

impl AppState {
    /// The core on the system clock, and the HTTP front's own parts. Starts
    /// the P2P node, so it must be called inside a tokio runtime.
    pub fn new(config: &ServeConfig) -> anyhow::Result<AppState> {
        AppState::with_clock(config, Arc::new(SystemClock))
    }

    /// [`AppState::new`] with time from `clock` (tests move it by hand).
    pub fn with_clock(config: &ServeConfig, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
        let mut registry = new_registry();
        let ours = registry.sub_registry_with_prefix("peercache");
        let core = Core::new(config, clock, ours)?;
        // The collector reads the same figures as the JSON API, at scrape time.
        ours.register_collector(Box::new(StatsCollector::new(Arc::new(core.clone()))));
        ours.register_collector(Box::new(AssetsCollector::new(core.assets.clone())));
        let bundle = Bundle::load();
        // Pages name the bundle's files by its hash (see `assets`).
        let output_name = bundle.as_ref().map_or("peercache".to_owned(), |b| b.output_name.clone());
        let leptos_options =
            LeptosOptions::builder().output_name(output_name).site_pkg_dir("pkg").site_addr(config.http_addr).build();
        let known_hosts = Arc::new(KnownHosts::new(config.http_addr, &config.public_names));
        let gh_host = Arc::from(config.gh_host.to_ascii_lowercase());
        Ok(AppState(Arc::new(Shared {
            core,
            leptos_options,
            metrics: Arc::new(registry),
            known_hosts,
            gh_host,
            bundle,
        })))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
