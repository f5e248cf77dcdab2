//! The polling clock every widget shares the shape of: a counter that ticks
//! every period in the browser (never on the server, where the first value is
//! rendered once) and whenever the widget's refresh button is pressed. While
//! the tab is hidden the clock skips its ticks, so a forgotten tab costs the
//! server nothing; the first tick after it shows again refreshes.

use std::time::Duration;

use leptos::prelude::*;

/// How often a widget asks the server again.
pub const POLL_PERIOD: Duration = Duration::from_secs(5);

/// A tick signal to key a `Resource` on, and a way to tick it by hand.
pub fn use_poll(period: Duration) -> (ReadSignal<u64>, impl Fn() + Copy + 'static) {
    let (tick, set_tick) = signal(0u64);
    Effect::new(move |_| {
        let every_period = move || {
            if !page_hidden() {
                set_tick.update(|n| *n += 1);
            }
        };
        let handle = set_interval_with_handle(every_period, period).ok();
        on_cleanup(move || {
            if let Some(handle) = handle {
                handle.clear();
            }
        });
    });
    (tick, move || set_tick.update(|n| *n += 1))
}

#[cfg(feature = "hydrate")]
fn page_hidden() -> bool {
    web_sys::window().and_then(|w| w.document()).is_some_and(|d| d.hidden())
}

#[cfg(not(feature = "hydrate"))]
fn page_hidden() -> bool {
    false
}
