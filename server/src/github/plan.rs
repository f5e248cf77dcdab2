//! What to do with a cacheable read before anything is fetched: a pure
//! decision over what is known of it (the requester's stored answer, its
//! freshness, the client's directives and the node's modes, GitHub's rate
//! limits for the scope), shaped like `p2p::protocol::verify` and tested by a
//! table. The proxy gathers the facts and carries the plan out.

use crate::github::stats::Mode;

/// What is known of the requester's own stored answer (one that opened for
/// its scope).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Own {
    /// Within its TTL.
    pub fresh: bool,
    /// GitHub must be asked first all the same: the client's directives
    /// (`no-cache`, `max-age=0`, …) or the "always revalidate" mode.
    pub revalidate: bool,
    /// A peer's copy that GitHub must confirm before it is served: an
    /// untrusted publisher's, or any peer's in "always confirm" mode.
    pub confirm: bool,
    /// Stored from a peer (served as PEER-HIT).
    pub from_peer: bool,
}

impl Own {
    /// How the stored answer is served as it is, if it may be: fresh, and
    /// nothing asks GitHub first.
    pub fn served(self) -> Option<Mode> {
        if !self.fresh || self.revalidate || self.confirm {
            return None;
        }
        Some(if self.from_peer { Mode::PeerHit } else { Mode::Hit })
    }
}

/// Everything the plan is made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    pub own: Option<Own>,
    /// GitHub refuses this scope for the request's resource right now: its
    /// rate-limit refusal with a reset still ahead, here or held by a trusted
    /// node of the fleet. Never looked at when the stored answer is served,
    /// so the proxy only gathers it when `own` does not serve (a HIT asks
    /// nothing else).
    pub refused: bool,
    pub head: bool,
}

/// What the proxy does with the read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The stored answer, as it is (HIT or PEER-HIT).
    Serve(Mode),
    /// GitHub would refuse: a stale stored answer (STALE) if there is one,
    /// else the refusal replayed (HELD). GitHub is not asked.
    Refused,
    /// A HEAD with nothing to serve: forwarded (its answer has no body to store).
    Forward,
    /// One shared fetch: this node's stale copy, the peers, then GitHub.
    Fetch,
}

pub fn plan(facts: &Facts) -> Plan {
    if let Some(mode) = facts.own.and_then(Own::served) {
        return Plan::Serve(mode);
    }
    if facts.refused {
        return Plan::Refused;
    }
    if facts.head {
        return Plan::Forward;
    }
    Plan::Fetch
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH: Own = Own { fresh: true, revalidate: false, confirm: false, from_peer: false };

    #[test]
    fn the_table() {
        let peer = Own { from_peer: true, ..FRESH };
        let expired = Own { fresh: false, ..FRESH };
        let directives = Own { revalidate: true, ..FRESH };
        let unconfirmed = Own { confirm: true, from_peer: true, ..FRESH };
        let facts = |own, refused, head| Facts { own, refused, head };
        let table = [
            // A fresh answer is served whatever else holds: limits are not asked.
            (facts(Some(FRESH), false, false), Plan::Serve(Mode::Hit)),
            (facts(Some(FRESH), true, false), Plan::Serve(Mode::Hit)),
            (facts(Some(FRESH), false, true), Plan::Serve(Mode::Hit)),
            (facts(Some(peer), false, false), Plan::Serve(Mode::PeerHit)),
            (facts(Some(peer), true, true), Plan::Serve(Mode::PeerHit)),
            // Nothing servable: a refusal first, then HEAD, then a fetch.
            (facts(None, false, false), Plan::Fetch),
            (facts(None, true, false), Plan::Refused),
            (facts(None, true, true), Plan::Refused),
            (facts(None, false, true), Plan::Forward),
            (facts(Some(expired), false, false), Plan::Fetch),
            (facts(Some(expired), true, false), Plan::Refused),
            (facts(Some(directives), false, false), Plan::Fetch),
            (facts(Some(directives), true, false), Plan::Refused),
            (facts(Some(directives), false, true), Plan::Forward),
            (facts(Some(unconfirmed), false, false), Plan::Fetch),
            (facts(Some(unconfirmed), true, false), Plan::Refused),
        ];
        for (facts, expected) in table {
            assert_eq!(plan(&facts), expected, "{facts:?}");
        }
    }

    #[test]
    fn only_a_fresh_answer_nothing_questions_is_served() {
        for fresh in [false, true] {
            for revalidate in [false, true] {
                for confirm in [false, true] {
                    for from_peer in [false, true] {
                        let own = Own { fresh, revalidate, confirm, from_peer };
                        let served = own.served();
                        assert_eq!(served.is_some(), fresh && !revalidate && !confirm, "{own:?}");
                        if let Some(mode) = served {
                            assert_eq!(mode == Mode::PeerHit, from_peer, "{own:?}");
                        }
                    }
                }
            }
        }
    }
}
