//! The Charts tab: the server's last 360 samples (one every 10 s unless
//! configured: an hour, plus one taken at the moment of asking), redrawn at every poll; and
//! where the answers came from, by proxy mode and by cache operation.

use leptos::prelude::*;

use crate::api::{failure_words, get_history};
use crate::charts::{hit_rate_percent, levels, per_minute, span_ms};
use crate::components::chart::{LineChart, Series};
use crate::components::fleet_flight::FleetFlight;
use crate::components::operations::Operations;
use crate::components::poll::use_polled;
use crate::components::proxy_modes::ProxyModes;
use crate::model::History;

#[component]
pub fn Charts() -> impl IntoView {
    let (history, refresh) = use_polled(|| (), |()| get_history());
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
            {move || Suspend::new(async move {
                match history.await {
                    Ok(history) => view! { <ChartGrid history/> }.into_any(),
                    Err(error) => view! {
                        <p class="status-error" id="charts-error">
                            {format!("⚠ Error loading the history: {}", failure_words(&error))}
                        </p>
                    }.into_any(),
                }
            })}
        </Transition>
        <button class="refresh" on:click=move |_| refresh()>"📈 Refresh Charts"</button>
        <div class="cards breakdowns">
            <ProxyModes/>
            <Operations/>
            <FleetFlight/>
        </div>
    }
}

/// "10 s", or "250 ms" for periods under a second.
fn sample_period(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

#[component]
fn ChartGrid(history: History) -> impl IntoView {
    let samples = history.samples;
    let end_ms = samples.last().map_or(0, |s| s.at_ms);
    let span_ms = span_ms(&samples);
    view! {
        <p class="chart-note">
            {format!(
                "One sample every {}, the last 360 kept in the server's memory ({} so far).",
                sample_period(history.period_ms),
                samples.len()
            )}
        </p>
        <div class="charts">
            <LineChart
                id="chart-hit-rate" title="Hit rate" unit="%" fixed_max=100.0 end_ms span_ms
                empty="No cache lookups in the last hour yet."
                series=vec![Series { label: "hit rate", class: "series-hits", points: hit_rate_percent(&samples) }]
            />
            <LineChart
                id="chart-requests" title="Requests per minute" unit="/min" end_ms span_ms
                empty="Waiting for a second sample."
                series=vec![Series { label: "lookups", class: "series-requests", points: per_minute(&samples, |s| s.requests) }]
            />
            <LineChart
                id="chart-upstream" title="Upstream calls vs calls saved" unit="/min" end_ms span_ms
                empty="Waiting for a second sample."
                series=vec![
                    Series { label: "calls to upstream", class: "series-upstream", points: per_minute(&samples, |s| s.upstream_calls) },
                    Series { label: "calls saved", class: "series-saved", points: per_minute(&samples, |s| s.calls_saved) },
                ]
            />
            <LineChart
                id="chart-peers" title="Connected peers" unit="" end_ms span_ms
                empty="No samples yet."
                series=vec![Series { label: "peers", class: "series-peers", points: levels(&samples, |s| s.peers as f64) }]
            />
        </div>
    }
}
