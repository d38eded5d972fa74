//! How many users a bulk link run writes per transaction: a policy of bulk runs, chosen per
//! backend, not a property of the store.

use crate::store::Store;

/// Users per transaction on PostgreSQL (see [`users_per_transaction`]).
pub const PG_BATCH: usize = 32;

/// How many users a bulk link run should write per transaction when nothing else limits it:
/// one on SQLite, where a transaction costs microseconds and a crash then leaves at most the
/// users on the wire `interrupted`; [`PG_BATCH`] on PostgreSQL, where each transaction costs
/// round trips to the server, so that the server's work per user, not the round trips, sets
/// the pace (a crash there leaves at most the batch being sent, and the mails on the wire,
/// `interrupted`).
pub fn users_per_transaction(store: &Store) -> usize {
    if store.conn().is_postgres() {
        PG_BATCH
    } else {
        1
    }
}
