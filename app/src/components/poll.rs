//! The polling clock every widget shares the shape of: a counter that ticks
//! every period in the browser (never on the server, where the first value is
//! rendered once) and whenever the widget's refresh button is pressed. While
//! the tab is hidden the clock skips its ticks, so a forgotten tab costs the
//! server nothing; the first tick after it shows again refreshes.

use std::future::Future;
use std::time::Duration;

use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::components::banner::Reachable;

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

/// A server answer asked for every [`POLL_PERIOD`], again whenever `source`
/// changes (a filter, a page), and when the returned refresh is called. Each
/// answer tells the unreachable banner whether the server answered.
pub fn use_polled<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetch: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> (Resource<Result<T, ServerFnError>>, impl Fn() + Copy + 'static)
where
    S: Clone + PartialEq + Send + Sync + 'static,
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ServerFnError>> + Send + 'static,
{
    let (tick, refresh) = use_poll(POLL_PERIOD);
    let answer = Resource::new(move || (tick.get(), source()), move |(_, source)| fetch(source));
    if let Some(Reachable(reachable)) = use_context::<Reachable>() {
        // Browser only (effects do not run on the server): report each answer.
        Effect::new(move |_| {
            if let Some(result) = answer.get() {
                reachable.set(result.is_ok());
            }
        });
    }
    (answer, refresh)
}

#[cfg(feature = "hydrate")]
fn page_hidden() -> bool {
    web_sys::window().and_then(|w| w.document()).is_some_and(|d| d.hidden())
}

#[cfg(not(feature = "hydrate"))]
fn page_hidden() -> bool {
    false
}
