//! The "⚡ API Rate Limit" card: GitHub's limit for the most constrained token
//! scope and resource seen by the proxy, when it resets, the other resources'
//! remaining counts, what the cache saved (and how much of it GitHub
//! confirmed for free), and how answers are reused and shared across tokens.

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
        {(stats.rate_limits.len() > 1).then(|| view! {
            <ul class="rate-others" id="rate-others">
                {stats.rate_limits.iter().skip(1).map(|l| view! {
                    <li data-resource=l.resource.clone().unwrap_or_default()>
                        {format!(
                            "{} {}: {} / {}{}",
                            l.scope,
                            l.resource.as_deref().unwrap_or("core"),
                            l.remaining.map_or_else(|| "?".to_owned(), |n| n.to_string()),
                            l.limit.map_or_else(|| "?".to_owned(), |n| n.to_string()),
                            if l.blocked_until.is_some() { " ⛔" } else { "" },
                        )}
                    </li>
                }).collect_view()}
            </ul>
        })}
        <dl class="fields">
            <dt>"Calls saved (last hour)"</dt>
            <dd id="calls-saved-hour">{stats.calls_saved_last_hour}</dd>
            <dt>"Not charged (last hour)"</dt>
            <dd id="free-confirmations-hour" title="Answers GitHub confirmed with a free 304: stored ones revalidated, and bodies the fleet holds confirmed for another token">
                {stats.free_confirmations_last_hour}
            </dd>
            <dt>"Calls to GitHub"</dt>
            <dd id="upstream-calls">{stats.upstream_calls}</dd>

            <dt>"Freshness"</dt>
            <dd id="freshness-mode" title="ttl: answers are reused for their TTL; revalidate: every request asks GitHub with the ETag (304s are free)">
                {if stats.freshness == "revalidate" { "always revalidate" } else { "TTL" }}
            </dd>
        </dl>
        <p class="reason" title=confirm_title(&stats)>
            "Token sharing: "<span id="confirm-mode">{confirm_words(&stats)}</span>
        </p>
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
            <dd id="rate-scope"><code>{limit.scope}</code>{format!(" · {}", limit.resource.as_deref().unwrap_or("core"))}</dd>
        </dl>
        <meter id="rate-bar" class="rate-bar" min="0" max=max.to_string() value=remaining.to_string() low=(max / 10).to_string()></meter>
        {limit.blocked_until.map(|until| view! {
            <p class="status-error" id="rate-blocked">{format!("⛔ GitHub refused this token for this resource; not asking again until {until}")}</p>
        })}
    }
}

/// How this node shares answers across tokens, in a few words.
fn confirm_words(stats: &ProxyStats) -> String {
    let confirm = &stats.confirm;
    match (confirm.mode.as_str(), confirm.shares_tokens) {
        ("off", _) => "off".to_owned(),
        (mode, shares) => {
            let what = if shares { "" } else { " (anonymous only)" };
            format!("{mode}{what}: {} confirmed, {} refused", confirm.confirmed, confirm.refused)
        }
    }
}

fn confirm_title(stats: &ProxyStats) -> &'static str {
    match stats.confirm.mode.as_str() {
        "always" => "Every answer this node did not itself get from GitHub for the token is confirmed with a free conditional request",
        "off" => "Answers are not shared between tokens",
        _ if !stats.confirm.shares_tokens => {
            "Only anonymous answers are shared between tokens: set CACHE_SECRET (or a swarm key) to share tokens' answers"
        }
        _ => "Another token's answer is served only after GitHub answers 304 to the requester's own credentials",
    }
}
