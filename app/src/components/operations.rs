//! Cache lookups by operation (the part of a key before the first `:`), with
//! each one's hit rate, busiest first.

use leptos::prelude::*;

use crate::api::get_cache_stats;
use crate::components::polled_card::{error_line, PolledCard};
use crate::format::percent;
use crate::model::{hit_rate, CacheStats};

#[component]
pub fn Operations() -> impl IntoView {
    view! {
        <PolledCard
            title="Lookups by operation"
            title_id="operations-title"
            button="🔄 Refresh Lookups"
            fetch=get_cache_stats
            ok=|stats| view! { <OperationRows stats/> }.into_any()
            error=error_line
        />
    }
}

#[component]
fn OperationRows(stats: CacheStats) -> impl IntoView {
    if stats.operations.is_empty() {
        return view! { <p class="empty" id="operations-empty">"No lookups yet."</p> }.into_any();
    }
    let mut operations: Vec<_> = stats.operations.into_iter().collect();
    operations.sort_by(|a, b| (b.1.hits + b.1.misses).cmp(&(a.1.hits + a.1.misses)).then_with(|| a.0.cmp(&b.0)));
    view! {
        <div class="table-scroll">
            <table class="data-table" id="operations">
                <thead>
                    <tr>
                        <th scope="col">"Operation"</th>
                        <th scope="col">"Hits"</th>
                        <th scope="col">"Misses"</th>
                        <th scope="col">"Hit rate"</th>
                    </tr>
                </thead>
                <tbody>
                    {operations
                        .into_iter()
                        .map(|(operation, counts)| {
                            let key = operation.clone();
                            view! {
                            <tr data-operation=key>
                                <td><code>{operation}</code></td>
                                <td class="num op-hits">{counts.hits}</td>
                                <td class="num op-misses">{counts.misses}</td>
                                <td class="num op-rate">{percent(hit_rate(counts.hits, counts.hits + counts.misses))}</td>
                            </tr>
                        }})
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
