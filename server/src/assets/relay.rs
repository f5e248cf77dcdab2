//! Which peer a node asks for each piece of a download, from what the
//! holders said they hold: a pure decision, so that the fleet's uplinks
//! share the work.
//!
//! With whole copies on several nodes, the pieces are asked of every holder
//! that has them, in turn. While there is one source only — one node's own
//! download from GitHub (the lease's holder), or the one whole copy it
//! became — every follower asking that node for every piece would make its
//! uplink carry the file once per follower. So each piece has one *relay*
//! among the followers, the same in every follower's eyes: the followers
//! take turns, piece by piece, in an order all of them make alike (a
//! rendezvous ranking of their peer ids for the download). The relay takes
//! the piece from that source (the *leader*), and the others take it from
//! the relay. Turns, not a ranking per piece: with 64 pieces and 7
//! followers, a ranking per piece gave one follower 17 pieces to pass on
//! and another 5, and the busiest one's uplink held everyone back.
//!
//! A relay that has not got a piece yet answers "not held" and is asked
//! again. Once it has kept this node waiting a while ([`Kept::Long`]), the
//! piece is taken from any other follower known to have it; only after a
//! long while ([`Kept::TooLong`]) from the leader too. The leader's uplink
//! is the fleet's narrowest point: it carries every piece once already, and
//! each piece asked of it again slows its own download from GitHub (on
//! 50 Mbit/s links, a leader that sent 2.2 copies held everyone back to
//! 27 s, where one that sent 1.0 let them finish in 16 s). So a slow or gone
//! relay only delays a piece, never stops it, and costs the leader little.

use std::time::Duration;

use libp2p::PeerId;

use crate::blobs::{Digest, Want};
use crate::p2p::piece::{PieceRequest, WireHave, PIECE_BYTES};
use crate::p2p::piece_list::SignedList;
use crate::p2p::rendezvous::rank;

/// How long a piece's relay has kept this node waiting for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// Not long, or not at all: the piece is asked of its relay.
    Briefly,
    /// A while: of any other follower known to have it, else of the relay again.
    Long,
    /// A long while: of whoever has it, the leader too.
    TooLong,
}

impl Kept {
    /// A relay passes on one piece to up to six other followers: on
    /// 50 Mbit/s links that alone takes it about a second.
    const LONG: Duration = Duration::from_secs(1);
    const TOO_LONG: Duration = Duration::from_secs(4);

    /// After `waited`, in a group of `holders`. Past 8 the leader is turned
    /// to later — 4 s for every 8 holders, at most 12 s — as a relay takes
    /// longer to pass a piece to all the others: at 50 nodes on 50 Mbit/s
    /// links (48 others, about 8 s a piece), followers turning to the leader
    /// after 4 s took its uplink from its own relays, their pieces came
    /// later still, and more turned to it; it sent 7.8-8.8 copies, nodes
    /// that waited 20 s for a byte took the rest from GitHub (2.6-6.0
    /// copies), and all held it after 97-118 s. Waiting up to 12 s:
    /// see BENCHMARKS.md.
    pub fn after(waited: Duration, holders: usize) -> Kept {
        if waited >= Kept::TOO_LONG * groups_of_eight(holders).min(3) {
            Kept::TooLong
        } else if waited >= Kept::LONG {
            Kept::Long
        } else {
            Kept::Briefly
        }
    }
}

/// How many groups of 8 a download's holders make, at least one: past 8,
/// a follower waits longer for its relays and asks the leader less often.
pub fn groups_of_eight(holders: usize) -> u32 {
    (holders / 8).max(1) as u32
}

/// What the holders hold of one download, as this node last heard it.
pub struct View<'a> {
    me: PeerId,
    name: &'a str,
    holders: &'a [(PeerId, WireHave)],
    /// The piece list pieces are taken against: a whole copy's, else the
    /// longest (each holder's was vetted: `piece_list::vouched`).
    pub signed: Option<&'a SignedList>,
    /// What each piece must hash to: that list's pieces.
    pub list: &'a [Digest],
    /// The file's size, when GitHub or a whole copy gave it.
    pub size: Option<u64>,
    whole: Option<&'a WireHave>,
}

impl<'a> View<'a> {
    pub fn of(me: PeerId, want: &'a Want, holders: &'a [(PeerId, WireHave)]) -> View<'a> {
        let whole = holders.iter().map(|(_, have)| have).find(|have| have.complete);
        let signed = match whole {
            Some(have) => Some(&have.list),
            None => holders.iter().map(|(_, have)| &have.list).max_by_key(|signed| signed.list.pieces.len()),
        };
        let list = signed.map_or(&[][..], |signed| &signed.list.pieces[..]);
        let size = want.size.or_else(|| whole.and_then(|have| have.size));
        View { me, name: &want.name, holders, signed, list, size, whole }
    }

    /// A whole copy's digest, when a holder has one.
    pub fn whole_digest(&self) -> Option<Digest> {
        self.whole.and_then(|have| have.digest)
    }

    /// Every byte is here (known once a holder has the whole file).
    pub fn done(&self, taken: u64) -> bool {
        self.whole.is_some() && self.size == Some(taken)
    }

    /// The piece starts past the end of the file.
    pub fn beyond(&self, piece: usize) -> bool {
        self.size.is_some_and(|size| piece as u64 * PIECE_BYTES >= size)
    }

    fn end(&self, piece: usize) -> u64 {
        let end = (piece as u64 + 1) * PIECE_BYTES;
        self.size.map_or(end, |size| end.min(size))
    }

    /// Whom to ask for `piece`, and the request; `None` while nobody should
    /// be asked yet. `kept`: how long its relay has kept this node waiting.
    /// `turn` spreads pieces over the holders that have them.
    pub fn choose(&self, piece: usize, kept: Kept, turn: usize) -> Option<(PeerId, PieceRequest)> {
        let digest = self.list.get(piece)?;
        let (start, end) = (piece as u64 * PIECE_BYTES, self.end(piece));
        let request =
            |have: &WireHave| PieceRequest { key: Some(have.key), name: None, offset: start, len: end - start };
        let ready: Vec<&(PeerId, WireHave)> = self
            .holders
            .iter()
            .filter(|(_, have)| have.pieces().get(piece) == Some(digest) && have.readable >= end)
            .collect();
        let in_turn = |among: &[&(PeerId, WireHave)]| {
            among.get(turn % among.len().max(1)).map(|(peer, have)| (*peer, request(have)))
        };
        let Some((leader, lead)) = self.leader().filter(|_| kept != Kept::TooLong) else { return in_turn(&ready) };
        let relay = self.relay(piece, leader);
        if relay == self.me {
            return ready
                .iter()
                .find(|(peer, _)| peer == leader)
                .map(|(peer, have)| (*peer, request(have)))
                .or_else(|| in_turn(&ready));
        }
        let followers: Vec<&(PeerId, WireHave)> = ready.iter().copied().filter(|(peer, _)| peer != leader).collect();
        if kept == Kept::Long && !followers.is_empty() {
            return in_turn(&followers);
        }
        if let Some((peer, have)) = followers.iter().find(|(peer, _)| *peer == relay) {
            return Some((*peer, request(have)));
        }
        // It follows the leader too: asked as if it held it (the leader's key).
        Some((relay, request(lead)))
    }

    /// This node is `piece`'s relay: it takes the piece from the leader,
    /// and the other followers take it from this node.
    pub fn relays(&self, piece: usize) -> bool {
        self.leader().is_some_and(|(leader, _)| self.relay(piece, leader) == self.me)
    }

    /// The one source (the whole copy, else the download furthest along),
    /// however many follow it: with 24 followers on 50 Mbit/s links, each
    /// passing on its turns' pieces to the 23 others, all held the asset
    /// after 25 s and GitHub sent it once; taking pieces from the one
    /// source instead, 107 s, and its stalled followers went to GitHub (5.7
    /// copies).
    fn leader(&self) -> Option<&'a (PeerId, WireHave)> {
        let whole = self.holders.iter().filter(|(_, have)| have.complete).count();
        if whole > 1 {
            return None;
        }
        self.holders.iter().max_by_key(|(_, have)| (have.complete, have.readable))
    }

    /// The follower (this node among them) that takes `piece` from the
    /// leader: the followers' turns, in their ranking for this download.
    fn relay(&self, piece: usize, leader: &PeerId) -> PeerId {
        let followers = self.holders.iter().map(|(peer, _)| *peer).filter(|peer| peer != leader);
        let order = rank(&format!("relays:{}", self.name), std::iter::once(self.me).chain(followers));
        order[piece % order.len()]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::p2p::piece_list::PieceList;

    const PIECES: usize = 64;

    fn have(readable_pieces: usize, complete: bool) -> WireHave {
        let pieces: Vec<Digest> = (0..readable_pieces).map(|i| Digest::of(&i.to_be_bytes())).collect();
        let (key, digest, size) = (Digest::of(b"file"), Some(Digest::of(b"file")), Some(PIECES as u64 * PIECE_BYTES));
        let list = SignedList::unsigned(PieceList { key, digest, size, complete, pieces });
        WireHave {
            key,
            digest,
            size,
            readable: readable_pieces as u64 * PIECE_BYTES,
            complete,
            held: readable_pieces as u32,
            list,
        }
    }

    fn want() -> Want {
        Want { name: "asset:o/r/1".into(), digest: Some(Digest::of(b"file")), size: Some(PIECES as u64 * PIECE_BYTES) }
    }

    /// Followers at the front of one node's download, 7 of them or 24: each
    /// piece the leader has is asked of the leader by exactly one of them
    /// (its relay), and of that relay by the others; over the whole file
    /// every follower relays an equal share, within one piece.
    #[test]
    fn followers_at_the_front_take_each_new_piece_from_the_leader_once() {
        followers_take_each_piece_from_the_leader_once(7);
        followers_take_each_piece_from_the_leader_once(24);
    }

    fn followers_take_each_piece_from_the_leader_once(count: usize) {
        let leader = PeerId::random();
        let followers: Vec<PeerId> = (0..count).map(|_| PeerId::random()).collect();
        let mut from_leader = vec![0; PIECES];
        let mut relayed: HashMap<PeerId, usize> = HashMap::new();
        for piece in 0..PIECES {
            for me in &followers {
                // What `me` last heard: the leader one piece past this one, the others level with it.
                let mut holders = vec![(leader, have(piece + 1, false))];
                holders.extend(followers.iter().filter(|peer| *peer != me).map(|peer| (*peer, have(piece, false))));
                let want = want();
                let view = View::of(*me, &want, &holders);
                let (asked, _) = view.choose(piece, Kept::Briefly, piece).expect("someone is asked");
                if asked == leader {
                    from_leader[piece] += 1;
                    *relayed.entry(*me).or_default() += 1;
                } else {
                    let relay = view.relay(piece, &leader);
                    assert_eq!(asked, relay, "a follower asks the piece's relay");
                }
            }
        }
        assert!(
            from_leader.iter().all(|&n| n == 1),
            "{count} followers: pieces asked of the leader, each: {from_leader:?}"
        );
        assert_eq!(relayed.len(), followers.len(), "every follower relays some pieces: {relayed:?}");
        let share = PIECES / followers.len();
        assert!(relayed.values().all(|&n| n == share || n == share + 1), "each an equal share: {relayed:?}");
    }

    /// A piece is asked of its relay, as if it held it, until the relay has
    /// kept this node waiting a while; then of another follower that has
    /// it (the leader's uplink spared), else of the relay again; and only
    /// after a long while of the leader.
    #[test]
    fn a_relay_that_keeps_a_node_waiting_is_passed_over_by_followers_first() {
        let (leader, other, third) = (PeerId::random(), PeerId::random(), PeerId::random());
        let me = PeerId::random();
        let want = want();
        // A piece whose relay is `other`, seen from `me`.
        let piece = (0..PIECES)
            .find(|&piece| {
                let holders = [(leader, have(PIECES / 2, false)), (other, have(0, false)), (third, have(0, false))];
                View::of(me, &want, &holders).relay(piece, &leader) == other
            })
            .expect("some piece is the other's to relay");
        let asked = |holders: &[(PeerId, WireHave)], kept, turn| {
            View::of(me, &want, holders).choose(piece, kept, turn).map(|(peer, request)| (peer, request.key))
        };
        let lead = have(piece + 2, false).key;
        let nobody_else = [(leader, have(piece + 2, false)), (other, have(0, false)), (third, have(0, false))];
        assert_eq!(
            asked(&nobody_else, Kept::Briefly, 0),
            Some((other, Some(lead))),
            "its relay first, by the leader's key"
        );
        for turn in 0..4 {
            assert_eq!(
                asked(&nobody_else, Kept::Long, turn).map(|(peer, _)| peer),
                Some(other),
                "no other follower has it: the relay again"
            );
        }
        let third_has_it = [(leader, have(piece + 2, false)), (other, have(0, false)), (third, have(piece + 1, false))];
        for turn in 0..4 {
            assert_eq!(
                asked(&third_has_it, Kept::Long, turn).map(|(peer, _)| peer),
                Some(third),
                "the follower that has it, never the leader"
            );
        }
        let turns: HashSet<PeerId> =
            (0..4).filter_map(|turn| asked(&third_has_it, Kept::TooLong, turn)).map(|(peer, _)| peer).collect();
        assert_eq!(turns, HashSet::from([leader, third]), "then whoever has it, in turn");
        assert_eq!(
            View::of(me, &want, &nobody_else).choose(piece + 2, Kept::TooLong, 0),
            None,
            "nobody has that piece yet"
        );
    }

    #[test]
    fn how_long_a_relay_kept_a_node_waiting() {
        assert_eq!(Kept::after(Duration::ZERO, 8), Kept::Briefly);
        assert_eq!(Kept::after(Duration::from_millis(999), 8), Kept::Briefly);
        assert_eq!(Kept::after(Duration::from_secs(1), 8), Kept::Long);
        assert_eq!(Kept::after(Duration::from_secs(4), 8), Kept::TooLong);
        assert_eq!(Kept::after(Duration::from_secs(4), 49), Kept::Long);
        assert_eq!(Kept::after(Duration::from_secs(12), 49), Kept::TooLong);
    }

    /// One whole copy is a leader as a download is: its followers relay.
    #[test]
    fn followers_of_the_one_whole_copy_relay_its_pieces_too() {
        let (whole, me, other) = (PeerId::random(), PeerId::random(), PeerId::random());
        let holders = [(whole, have(PIECES, true)), (other, have(0, false))];
        let want = want();
        let view = View::of(me, &want, &holders);
        let asked: Vec<PeerId> = (0..PIECES).map(|piece| view.choose(piece, Kept::Briefly, piece).unwrap().0).collect();
        assert!(asked.contains(&whole) && asked.contains(&other), "some pieces of each: {asked:?}");
        for (piece, peer) in asked.iter().enumerate() {
            assert_eq!(*peer == whole, view.relay(piece, &whole) == me, "piece {piece}");
        }
    }

    /// With whole copies on several nodes, pieces go round the holders that have them.
    #[test]
    fn whole_copies_share_the_pieces_in_turn() {
        let (a, b, following) = (PeerId::random(), PeerId::random(), PeerId::random());
        let holders = [(a, have(PIECES, true)), (b, have(PIECES, true)), (following, have(3, false))];
        let want = want();
        let view = View::of(PeerId::random(), &want, &holders);
        let asked: Vec<PeerId> = (0..6).map(|turn| view.choose(2, Kept::Briefly, turn).unwrap().0).collect();
        assert_eq!(asked, [a, b, following, a, b, following]);
        assert_eq!(view.choose(5, Kept::Briefly, 0).map(|(peer, _)| peer), Some(a), "piece 5: the whole copies only");
        assert_eq!(view.choose(PIECES, Kept::Briefly, 0), None, "past the end");
    }
}
