//! How the GitHub proxy answered, by `X-Peercache` mode (HIT, PEER-HIT, MISS,
//! REVALIDATED, COALESCED, STALE, PASS): the panel ghproxy's dashboards lead
//! with, as bars.

use leptos::prelude::*;

use crate::api::get_proxy_stats;
use crate::components::polled_card::{error_line, PolledCard};
use crate::format::percent;
use crate::model::ProxyStats;

#[component]
pub fn ProxyModes() -> impl IntoView {
    view! {
        <PolledCard
            title="GitHub proxy responses by mode"
            title_id="proxy-modes-title"
            button="🔄 Refresh Modes"
            fetch=get_proxy_stats
            ok=|stats| view! { <Modes stats/> }.into_any()
            error=error_line
        />
    }
}

#[component]
fn Modes(stats: ProxyStats) -> impl IntoView {
    let total: u64 = stats.modes.values().sum();
    if total == 0 {
        return view! { <p class="empty" id="proxy-modes-empty">"No requests through /github/… yet."</p> }.into_any();
    }
    let mut modes: Vec<(String, u64)> = stats.modes.into_iter().filter(|(_, n)| *n > 0).collect();
    modes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    view! {
        <table class="data-table bars" id="proxy-modes">
            <tbody>
                {modes
                    .into_iter()
                    .map(|(mode, count)| {
                        let key = mode.clone();
                        view! {
                        <tr data-mode=key>
                            <th scope="row"><code>{mode}</code></th>
                            <td class="num mode-count">{count}</td>
                            <td class="bar-cell">
                                <meter min="0" max=total.to_string() value=count.to_string()></meter>
                            </td>
                            <td class="num">{percent(count as f64 / total as f64)}</td>
                        </tr>
                    }})
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
