//! The Overview tab: the P2P, cache, rate-limit and gh cards side by side.

use leptos::prelude::*;

use crate::components::cache_card::CacheCard;
use crate::components::gh_card::GhCard;
use crate::components::peer_card::PeerCard;
use crate::components::rate_limit_card::RateLimitCard;

#[component]
pub fn Overview() -> impl IntoView {
    view! {
        <div class="cards">
            <PeerCard/>
            <CacheCard/>
            <RateLimitCard/>
            <GhCard/>
        </div>
    }
}
