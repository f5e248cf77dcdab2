//! The API call log: the last 100 calls that went upstream because the cache
//! could not answer, newest first.

use leptos::prelude::*;

use crate::api::get_cache_stats;
use crate::components::polled_card::{error_line, PolledCard};
use crate::model::CacheStats;

#[component]
pub fn CallLog() -> impl IntoView {
    view! {
        <PolledCard
            title="API call log (last 100 upstream calls)"
            title_id="call-log-title"
            button="🔄 Refresh Log"
            fetch=get_cache_stats
            ok=|stats| view! { <Calls stats/> }.into_any()
            error=error_line
        />
    }
}

#[component]
fn Calls(stats: CacheStats) -> impl IntoView {
    if stats.api_call_log.is_empty() {
        return view! {
            <p class="empty" id="call-log-empty">"No upstream calls yet: everything so far was answered by the cache or a peer."</p>
        }
        .into_any();
    }
    view! {
        <div class="table-scroll">
            <table class="data-table" id="call-log">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"API"</th>
                        <th scope="col">"Operation"</th>
                        <th scope="col">"Status"</th>
                    </tr>
                </thead>
                <tbody>
                    {stats
                        .api_call_log
                        .into_iter()
                        .rev()
                        .map(|call| view! {
                            <tr>
                                <td>{call.timestamp}</td>
                                <td>{call.api_type}</td>
                                <td>{call.operation}</td>
                                <td>{call.status}</td>
                            </tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
