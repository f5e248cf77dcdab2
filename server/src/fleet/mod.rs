//! The fleet at a glance: every node shares a small signed summary of
//! itself every few seconds on the announcement topic (`summary`), each node
//! keeps the latest it heard from the others (`book`), and `/api/fleet`, the
//! Fleet tab and `peercache fleet` show them with their totals. Summaries
//! follow the trust rules of entries: an untrusted node's is shown apart and
//! never summed.

pub mod book;
pub mod summary;
