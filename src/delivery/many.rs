//! [`Job::finish`] for a batch of jobs (a bulk run's users whose mails were accepted together):
//! their audit rows, their bulk items and their mail intents, each kind written with one
//! statement inside the caller's transaction.

use std::collections::BTreeMap;

use super::{ItemEnd, Job, RecordError};
use crate::audit::{self, Outcome};
use crate::store::sql::Conn;
use crate::store::{bulk, intents};

/// One job of a batch, finished: how it ended and what its audit row and item say.
#[derive(Debug)]
pub struct Finished<'j> {
    /// The job.
    pub job: Job<'j>,
    /// The audit outcome (and, from it, the item's status).
    pub outcome: Outcome,
    /// The audit row's detail.
    pub detail: &'j str,
    /// How the bulk item ends besides its status.
    pub item: ItemEnd<'j>,
}

/// [`Job::finish`] for every job of `finished`, in order, inside the caller's transaction: the
/// audit rows in one statement (the chain's head read once), then the items, then the intents.
pub fn finish_all(tx: &Conn, finished: &[Finished<'_>]) -> Result<(), RecordError> {
    let Some(first) = finished.first() else {
        return Ok(());
    };
    let (actor, now) = (first.job.actor, first.job.now);
    let events: Vec<_> = finished
        .iter()
        .map(|f| f.job.event(f.outcome, Some(f.detail.to_string())))
        .collect();
    audit::append_all(tx, actor, now, &events)?;
    let items: Vec<_> = finished
        .iter()
        .filter_map(|f| Some((f.job.bulk?.1, f.item.finish(f.outcome))))
        .collect();
    bulk::finish_items(tx, &items, now.as_second())?;
    let mut by_outcome: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for f in finished {
        if let Some(intent) = f.job.intent {
            by_outcome
                .entry(f.outcome.as_str())
                .or_default()
                .push(intent);
        }
    }
    for (outcome, ids) in by_outcome {
        intents::resolve_many(tx, &ids, outcome, now.as_second())?;
    }
    Ok(())
}
