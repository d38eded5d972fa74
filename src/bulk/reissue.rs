//! `reset bulk --reissue RUN_ID --state ...`: pick the users of a run who stand in some states
//! (from its report, [`super::report`]), as a selection for a new plan. The new run is planned,
//! prompted, sent and resumed exactly like any other (`super::plan`); this module only chooses
//! whom. Users are named by `#ID` (one entry per user, whatever the original entry said);
//! entries that named nobody keep their text, so they are resolved (and skipped) again.
//! Nothing here prints or writes.

use std::collections::HashSet;

use super::BulkError;
use super::report::{self, Line, Reported};
use crate::store::Store;

/// A state a reissue can select users by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// The link or password is still live and the link was never opened.
    Sent,
    /// The link was opened by a browser but not used (whatever happened to it since).
    Opened,
    /// The mail was accepted but the link never opened nor used (expired or not).
    NeverOpened,
    /// The link or password expired unused.
    Expired,
    /// The link was revoked.
    Revoked,
    /// The temporary password was replaced by a later one.
    Superseded,
    /// The mail failed.
    Failed,
    /// The mail may have gone out with nothing committed.
    Interrupted,
    /// The entry was skipped (a duplicate entry excepted: its user had an item of their own).
    Skipped,
}

/// Every accepted name, in the order the help lists them.
pub const NAMES: &[(&str, Selector)] = &[
    ("sent", Selector::Sent),
    ("opened", Selector::Opened),
    ("never-opened", Selector::NeverOpened),
    ("expired", Selector::Expired),
    ("revoked", Selector::Revoked),
    ("superseded", Selector::Superseded),
    ("failed", Selector::Failed),
    ("interrupted", Selector::Interrupted),
    ("skipped", Selector::Skipped),
];

/// Parse `expired,failed,never-opened`; an unknown or unfit name is an error saying why.
pub fn parse(text: &str) -> Result<Vec<Selector>, String> {
    let accepted: Vec<&str> = NAMES.iter().map(|(name, _)| *name).collect();
    text.split(',')
        .map(|name| {
            let name = name.trim();
            match NAMES.iter().find(|(n, _)| *n == name) {
                Some((_, selector)) => Ok(*selector),
                None if name == "pending" => Err(
                    "pending users are not reissued: finish the run with --resume RUN_ID".into(),
                ),
                None if name == "used" || name == "changed" => Err(format!(
                    "{name} users have set a password already; accepted states: {}",
                    accepted.join(", ")
                )),
                None => Err(format!(
                    "unknown state {name:?}; accepted states: {}",
                    accepted.join(", ")
                )),
            }
        })
        .collect()
}

impl Selector {
    /// Whether a report line stands in this state.
    pub fn matches(self, line: &Line) -> bool {
        let accepted = line.item.status == "sent";
        // A revoked link (cancelled by the user, an email or password change, the operator) is
        // picked only by `revoked` itself: "this wasn't me" must not bring a new link.
        let unused = !matches!(line.state, "used" | "changed" | "revoked" | report::PURGED);
        match self {
            Selector::Opened => accepted && unused && line.opened,
            Selector::NeverOpened => accepted && unused && !line.opened && !line.password,
            Selector::Skipped => {
                line.state == "skipped" && line.item.reason.as_deref() != Some("duplicate")
            }
            Selector::Sent => line.state == "sent",
            Selector::Expired => line.state == "expired",
            Selector::Revoked => line.state == "revoked",
            Selector::Superseded => line.state == "superseded",
            Selector::Failed => line.state == "failed",
            Selector::Interrupted => line.state == "interrupted",
        }
    }
}

/// The users a reissue selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reissue {
    /// The run reissued.
    pub original: Reported,
    /// One entry per line: `#ID`, or the original text of an entry that named nobody.
    pub entries: String,
    /// How many entries.
    pub count: u64,
}

/// The entries of run `run_id` whose users stand (at `now`) in one of `states`.
pub fn select(
    store: &Store,
    run_id: &str,
    states: &[Selector],
    now: i64,
) -> Result<Reissue, BulkError> {
    let original = report::find(store, run_id)?;
    let (mut entries, mut count, mut seen) = (String::new(), 0_u64, HashSet::new());
    report::report(store, &original, now, |line| {
        if !states.iter().any(|s| s.matches(line)) {
            return Ok::<_, BulkError>(());
        }
        let entry = match line.item.user_id {
            Some(id) if seen.insert(id) => format!("#{id}"),
            Some(_) => return Ok(()),
            None => line.item.entry.clone(),
        };
        entries.push_str(&entry);
        entries.push('\n');
        count += 1;
        Ok(())
    })?;
    Ok(Reissue {
        original,
        entries,
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_parse_and_unfit_ones_say_why() {
        assert_eq!(
            parse("expired, failed,never-opened"),
            Ok(vec![
                Selector::Expired,
                Selector::Failed,
                Selector::NeverOpened
            ])
        );
        assert!(parse("pending").expect_err("pending").contains("--resume"));
        assert!(parse("used").expect_err("used").contains("accepted states"));
        let unknown = parse("expird").expect_err("typo");
        assert!(
            unknown.contains("\"expird\"") && unknown.contains("never-opened"),
            "{unknown}"
        );
    }

    /// A sent link of alice's standing in `state`, opened or not.
    fn sent_link(state: &'static str, opened: bool) -> Line {
        Line {
            item: crate::store::bulk::Item {
                id: 1,
                position: 1,
                entry: "alice".into(),
                user_id: Some(1),
                status: "sent".into(),
                reason: None,
                recipient: None,
                expires_at: None,
            },
            username: Some("alice".into()),
            state,
            reason: None,
            opened,
            password: false,
            sent_at: None,
            mail_reply: None,
        }
    }

    #[test]
    fn a_revoked_link_is_picked_only_by_revoked() {
        for opened in [false, true] {
            let cancelled = sent_link("revoked", opened);
            assert!(!Selector::NeverOpened.matches(&cancelled));
            assert!(!Selector::Opened.matches(&cancelled));
            assert!(Selector::Revoked.matches(&cancelled));
        }
        assert!(Selector::NeverOpened.matches(&sent_link("expired", false)));
        assert!(Selector::Opened.matches(&sent_link("expired", true)));
        assert!(!Selector::NeverOpened.matches(&sent_link("used", false)));
    }
}
