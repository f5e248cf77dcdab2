//! "Connect to peer": dial a multiaddr now. An address that cannot be one is
//! refused inline before anything is sent; one the server refuses shows the
//! server's reason inline too.

use leptos::prelude::*;

use crate::api::{connect_peer, failure_words};
use crate::components::admin_token::AdminToken;
use crate::components::toast::Toasts;

const EXAMPLE: &str = "/ip4/192.0.2.10/tcp/9100/p2p/12D3KooW…";

/// The checks a browser can make without a multiaddr parser; the server
/// parses the rest.
pub fn check_multiaddr_shape(text: &str) -> Result<(), String> {
    let text = text.trim();
    if text.is_empty() {
        Err(format!("Enter a peer's multiaddr, such as {EXAMPLE}"))
    } else if !text.starts_with('/') {
        Err(format!("A multiaddr starts with \"/\", such as {EXAMPLE}"))
    } else if !text.contains("/p2p/") {
        Err("The multiaddr must end in /p2p/<peer id>, so the node knows whom it is dialing".to_owned())
    } else {
        Ok(())
    }
}

#[component]
pub fn ConnectForm(
    /// Called after a dial started, so the peer list can be asked again.
    on_dialing: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let toasts = expect_context::<Toasts>();
    let token = expect_context::<AdminToken>();
    let (addr, set_addr) = signal(String::new());
    let (problem, set_problem) = signal(None::<String>);
    let connect = Action::new(|(multiaddr, token): &(String, String)| connect_peer(multiaddr.clone(), token.clone()));
    Effect::new(move |_| match connect.value().get() {
        Some(Ok(dialing)) => {
            toasts.ok(format!("Dialing {dialing}"));
            set_addr.set(String::new());
            on_dialing();
        }
        Some(Err(error)) => {
            let words = failure_words(&error);
            toasts.error(format!("Could not connect: {words}"));
            set_problem.set(Some(words));
        }
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = addr.get_untracked().trim().to_owned();
        match check_multiaddr_shape(&text) {
            Ok(()) => {
                set_problem.set(None);
                connect.dispatch((text, token.value()));
            }
            Err(why) => set_problem.set(Some(why)),
        }
    };
    view! {
        <form class="connect-form" id="connect-form" on:submit=submit novalidate>
            <label for="connect-addr">"Multiaddr"</label>
            <div class="connect-row">
                <input
                    id="connect-addr"
                    type="text"
                    spellcheck="false"
                    autocomplete="off"
                    placeholder=EXAMPLE
                    aria-describedby="connect-error"
                    aria-invalid=move || problem.get().is_some().to_string()
                    prop:value=move || addr.get()
                    on:input=move |ev| {
                        set_addr.set(event_target_value(&ev));
                        set_problem.set(None);
                    }
                />
                <button type="submit" class="refresh" disabled=move || connect.pending().get()>"🔗 Connect"</button>
            </div>
            <p class="field-error" id="connect-error" role="alert">{move || problem.get()}</p>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_that_cannot_be_a_peer_address_are_refused_with_a_hint() {
        assert!(check_multiaddr_shape("").unwrap_err().starts_with("Enter a peer's multiaddr"));
        assert!(check_multiaddr_shape("192.0.2.1:9100").unwrap_err().contains("starts with"));
        assert!(check_multiaddr_shape("/ip4/192.0.2.1/tcp/9100").unwrap_err().contains("/p2p/<peer id>"));
        assert_eq!(check_multiaddr_shape(" /ip4/192.0.2.1/tcp/9100/p2p/12D3KooWx "), Ok(()));
    }
}
