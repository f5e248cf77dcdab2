//! The Peers tab's table: every connected peer, filtered by the URL's `q`
//! and sorted by its `sort` and `dir`, so a link reopens the same view.

use std::fmt;
use std::str::FromStr;

use leptos::prelude::*;
use leptos_router::hooks::query_signal_with_options;
use leptos_router::NavigateOptions;

use crate::components::copy_button::CopyButton;
use crate::format::{latency, short_id};
use crate::model::PeerInfo;

/// A column the table sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Id,
    Address,
    Direction,
    Latency,
    Agent,
    Since,
    Sent,
    Received,
    Trusted,
    Refused,
}

const COLUMNS: [(SortKey, &str); 10] = [
    (SortKey::Id, "Peer ID"),
    (SortKey::Address, "Address"),
    (SortKey::Direction, "Direction"),
    (SortKey::Latency, "Latency"),
    (SortKey::Agent, "Agent"),
    (SortKey::Since, "Connected since"),
    (SortKey::Sent, "Entries sent"),
    (SortKey::Received, "Entries received"),
    (SortKey::Trusted, "Trusted"),
    (SortKey::Refused, "Refused"),
];

impl SortKey {
    fn word(self) -> &'static str {
        match self {
            SortKey::Id => "id",
            SortKey::Address => "address",
            SortKey::Direction => "direction",
            SortKey::Latency => "latency",
            SortKey::Agent => "agent",
            SortKey::Since => "since",
            SortKey::Sent => "sent",
            SortKey::Received => "received",
            SortKey::Trusted => "trusted",
            SortKey::Refused => "refused",
        }
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl FromStr for SortKey {
    type Err = ();

    fn from_str(word: &str) -> Result<Self, ()> {
        COLUMNS.iter().map(|(key, _)| *key).find(|key| key.word() == word).ok_or(())
    }
}

/// The peers whose id, address, direction or agent contain `query`, ignoring case.
pub fn filter_peers(peers: &[PeerInfo], query: &str) -> Vec<PeerInfo> {
    let query = query.trim().to_lowercase();
    peers
        .iter()
        .filter(|p| {
            query.is_empty()
                || [p.peer_id.as_str(), p.addr.as_str(), p.direction.as_str(), p.agent.as_deref().unwrap_or("")]
                    .iter()
                    .any(|field| field.to_lowercase().contains(&query))
        })
        .cloned()
        .collect()
}

/// Sorts by `key`; peers without a measured latency come last either way.
pub fn sort_peers(peers: &mut [PeerInfo], key: SortKey, descending: bool) {
    peers.sort_by(|a, b| {
        let order = match key {
            SortKey::Id => a.peer_id.cmp(&b.peer_id),
            SortKey::Address => a.addr.cmp(&b.addr),
            SortKey::Direction => a.direction.cmp(&b.direction),
            SortKey::Latency => match (a.latency_ms, b.latency_ms) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => return std::cmp::Ordering::Less,
                (None, Some(_)) => return std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            },
            SortKey::Agent => a.agent.cmp(&b.agent),
            SortKey::Since => a.connected_since.cmp(&b.connected_since),
            SortKey::Sent => a.entries_sent.cmp(&b.entries_sent),
            SortKey::Received => a.entries_received.cmp(&b.entries_received),
            SortKey::Trusted => a.trusted.cmp(&b.trusted),
            SortKey::Refused => a.refused.cmp(&b.refused),
        };
        if descending {
            order.reverse()
        } else {
            order
        }
    });
}

/// The URL's view of the table: filter text, sort column and direction.
#[derive(Clone, Copy)]
pub struct PeerView {
    pub query: Memo<Option<String>>,
    pub set_query: SignalSetter<Option<String>>,
    sort: Memo<Option<SortKey>>,
    set_sort: SignalSetter<Option<SortKey>>,
    descending: Memo<Option<bool>>,
    set_descending: SignalSetter<Option<bool>>,
}

/// Reads (and writes) the table's state in the URL, replacing the history entry.
pub fn use_peer_view() -> PeerView {
    let options = || NavigateOptions { replace: true, scroll: false, ..NavigateOptions::default() };
    let (query, set_query) = query_signal_with_options::<String>("q", options());
    let (sort, set_sort) = query_signal_with_options::<SortKey>("sort", options());
    let (descending, set_descending) = query_signal_with_options::<bool>("desc", options());
    PeerView { query, set_query, sort, set_sort, descending, set_descending }
}

#[component]
pub fn PeerTable(peers: Vec<PeerInfo>, view: PeerView) -> impl IntoView {
    let total = peers.len();
    let shown = Memo::new(move |_| {
        let mut shown = filter_peers(&peers, &view.query.get().unwrap_or_default());
        sort_peers(&mut shown, view.sort.get().unwrap_or(SortKey::Id), view.descending.get().unwrap_or(false));
        shown
    });
    let sort_by = move |key: SortKey| {
        let descending = view.sort.get_untracked() == Some(key) && !view.descending.get_untracked().unwrap_or(false);
        view.set_sort.set(Some(key));
        view.set_descending.set(descending.then_some(true));
    };
    let headers = COLUMNS
        .iter()
        .map(|&(key, label)| {
            // `aria-sort` and the arrow shown after the label.
            let order =
                move || match (view.sort.get().unwrap_or(SortKey::Id) == key, view.descending.get().unwrap_or(false)) {
                    (false, _) => ("none", ""),
                    (true, false) => ("ascending", " ▲"),
                    (true, true) => ("descending", " ▼"),
                };
            view! {
                <th scope="col" aria-sort=move || order().0>
                    <button type="button" class="sort" data-sort=key.word() on:click=move |_| sort_by(key)>
                        {label}{move || order().1}
                    </button>
                </th>
            }
        })
        .collect_view();
    view! {
        <p class="match-count" id="peer-match-count">
            {move || format!("{} of {total} peers", shown.with(Vec::len))}
        </p>
        <div class="table-scroll">
            <table class="data-table" id="peer-table">
                <thead><tr>{headers}</tr></thead>
                <tbody>
                    <For each=move || shown.get() key=|peer| peer.peer_id.clone() let:peer>
                        <PeerRow peer/>
                    </For>
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn PeerRow(peer: PeerInfo) -> impl IntoView {
    view! {
        <tr data-peer-id=peer.peer_id.clone()>
            <td class="peer-id">
                <code title=peer.peer_id.clone()>{short_id(&peer.peer_id)}</code>
                <CopyButton text=peer.peer_id.clone() label="Copy peer id"/>
            </td>
            <td class="peer-addr">{peer.addr}</td>
            <td class="peer-direction">{peer.direction}</td>
            <td class="peer-latency num">{latency(peer.latency_ms)}</td>
            <td class="peer-agent">{peer.agent.unwrap_or_else(|| "—".into())}</td>
            <td class="peer-since">{peer.connected_since}</td>
            <td class="peer-sent num">{peer.entries_sent}</td>
            <td class="peer-received num">{peer.entries_received}</td>
            <td class="peer-trusted" title="Whether this node takes GitHub answers this peer published">
                {if peer.trusted { "✓ yes" } else { "no" }}
            </td>
            <td class="peer-refused num">{peer.refused}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str, latency_ms: Option<f64>, agent: &str) -> PeerInfo {
        PeerInfo {
            peer_id: id.into(),
            addr: format!("/ip4/127.0.0.1/tcp/{}", id.len()),
            direction: "outbound".into(),
            latency_ms,
            agent: Some(agent.into()),
            protocols: vec![],
            connected_since: "2026-11-24T00:00:00Z".into(),
            entries_received: 0,
            entries_sent: id.len() as u64,
            gossip_score: None,
            trusted: false,
            refused: 0,
            clock_offset_ms: None,
        }
    }

    fn ids(peers: &[PeerInfo]) -> Vec<&str> {
        peers.iter().map(|p| p.peer_id.as_str()).collect()
    }

    #[test]
    fn the_filter_matches_any_column_ignoring_case() {
        let peers = [peer("12D3A", None, "peercache/0.1"), peer("12D3B", None, "kubo/0.30")];
        assert_eq!(ids(&filter_peers(&peers, "KUBO")), ["12D3B"]);
        assert_eq!(ids(&filter_peers(&peers, " 12d3 ")), ["12D3A", "12D3B"]);
        assert!(filter_peers(&peers, "nothing").is_empty());
    }

    #[test]
    fn latency_sorts_both_ways_with_unmeasured_peers_last() {
        let mut peers = [peer("a", Some(5.0), ""), peer("b", None, ""), peer("c", Some(1.0), "")];
        sort_peers(&mut peers, SortKey::Latency, false);
        assert_eq!(ids(&peers), ["c", "a", "b"]);
        sort_peers(&mut peers, SortKey::Latency, true);
        assert_eq!(ids(&peers), ["a", "c", "b"]);
    }

    #[test]
    fn sort_keys_read_back_from_their_url_words() {
        for (key, _) in COLUMNS {
            assert_eq!(key.to_string().parse::<SortKey>(), Ok(key));
        }
        assert!("bogus".parse::<SortKey>().is_err());
    }
}
