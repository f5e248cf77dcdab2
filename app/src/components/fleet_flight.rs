//! Fleet-wide single flight on the Charts tab: leases this node granted as a
//! key's coordinator, requests that waited for another node's fetch, and
//! waits that ran out.

use leptos::prelude::*;

use crate::api::get_proxy_stats;
use crate::components::polled_card::{error_line, PolledCard};
use crate::model::ProxyStats;

#[component]
pub fn FleetFlight() -> impl IntoView {
    view! {
        <PolledCard
            title="Fleet-wide single flight"
            title_id="fleet-flight-title"
            button="🔄 Refresh Fleet"
            fetch=get_proxy_stats
            ok=|stats| view! { <FleetFields stats/> }.into_any()
            error=error_line
        />
    }
}

#[component]
fn FleetFields(stats: ProxyStats) -> impl IntoView {
    let fleet = stats.fleet;
    if !fleet.enabled {
        return view! {
            <p class="empty" id="fleet-off">"Off: P2P is off, or CACHE_FLEET_SINGLE_FLIGHT=false; each node asks GitHub for itself."</p>
        }
        .into_any();
    }
    let ran_out = fleet.wait_timeouts > 0;
    view! {
        <dl class="fields">
            <dt>"Leases granted (as coordinator)"</dt>
            <dd id="fleet-leases">{fleet.leases_granted}</dd>
            <dt>"Waited for another node's fetch"</dt>
            <dd id="fleet-waits">{fleet.waits}</dd>
            <dt>"Waits that ran out"</dt>
            <dd id="fleet-timeouts" class:status-warn=ran_out>{fleet.wait_timeouts}</dd>
        </dl>
    }
    .into_any()
}
