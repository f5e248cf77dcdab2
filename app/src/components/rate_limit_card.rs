//! The "⚡ API Rate Limit" card: GitHub's limit for the most constrained token
//! scope seen by the proxy, when it resets, and what the cache saved.

use leptos::prelude::*;

use crate::api::get_proxy_stats;
use crate::components::polled_card::PolledCard;
use crate::format::{duration_words, ERROR_LOADING};
use crate::model::{ProxyStats, RateLimitInfo};

#[component]
pub fn RateLimitCard() -> impl IntoView {
    view! {
        <PolledCard
            title="⚡ API Rate Limit"
            title_id="rate-card-title"
            button="⚡ Refresh Rate Limit"
            fetch=get_proxy_stats
            ok=|stats| view! { <RateFields stats/> }.into_any()
            error=|error| {
                let (label, class) = ERROR_LOADING;
                view! { <p id="rate-remaining" class=class title=error>{label}</p> }.into_any()
            }
        />
    }
}

#[component]
fn RateFields(stats: ProxyStats) -> impl IntoView {
    let limit = stats.rate_limits.first().cloned();
    view! {
        {match limit {
            Some(limit) => view! { <Limit limit/> }.into_any(),
            None => view! {
                <p class="empty" id="rate-remaining">"No GitHub calls through this node yet: the limit shows after the first request to /github/…"</p>
            }.into_any(),
        }}
        <dl class="fields">
            <dt>"Calls saved (last hour)"</dt>
            <dd id="calls-saved-hour">{stats.calls_saved_last_hour}</dd>
            <dt>"Calls to GitHub"</dt>
            <dd id="upstream-calls">{stats.upstream_calls}</dd>
        </dl>
    }
}

#[component]
fn Limit(limit: RateLimitInfo) -> impl IntoView {
    let remaining = limit.remaining.unwrap_or(0);
    let max = limit.limit.unwrap_or(0);
    let low = max > 0 && remaining * 10 < max;
    let reset = match (limit.reset_in_secs, limit.reset.clone()) {
        (Some(secs), Some(at)) => format!("in {} ({at})", duration_words(secs)),
        _ => "—".to_owned(),
    };
    view! {
        <dl class="fields">
            <dt>"Remaining"</dt>
            <dd id="rate-remaining" class:status-warn=low>{format!("{remaining} / {max}")}</dd>
            <dt>"Resets"</dt>
            <dd id="rate-reset">{reset}</dd>
            <dt>"Token scope"</dt>
            <dd id="rate-scope"><code>{limit.scope}</code></dd>
        </dl>
        <meter id="rate-bar" class="rate-bar" min="0" max=max.to_string() value=remaining.to_string() low=(max / 10).to_string()></meter>
        {limit.blocked_until.map(|until| view! {
            <p class="status-error" id="rate-blocked">{format!("⛔ GitHub refused this token; not asking again until {until}")}</p>
        })}
    }
}
