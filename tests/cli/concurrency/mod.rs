//! Several pwreset processes at once, and signals sent to a running one: every wait in these
//! tests is bounded by [`DEADLINE`](crate::support::DEADLINE), and they assert outcomes that
//! hold under any interleaving.

mod signals;
pub(crate) mod store;

use std::collections::BTreeMap;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::TestEnv;

/// Send `signal` to a process started by [`TestEnv::spawn`].
pub(crate) fn signal(child: &std::process::Child, signal: Signal) {
    let pid = i32::try_from(child.id()).expect("a pid fits in i32");
    kill(Pid::from_raw(pid), signal).expect("send the signal");
}

/// The one bulk run in the store.
pub(crate) fn the_run(env: &TestEnv) -> String {
    env.db()
        .query_one("SELECT id FROM bulk_runs", &[], |r| r.get(0))
}

/// How many mails in `outbox/` went to each address.
pub(crate) fn outbox_recipients(env: &TestEnv) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for raw in env.outbox() {
        let mail = mailparse::parse_mail(&raw).expect("a mail");
        let to = mail
            .headers
            .iter()
            .find(|h| h.get_key() == "To")
            .expect("a To header")
            .get_value();
        *seen.entry(to).or_insert(0) += 1;
    }
    seen
}
