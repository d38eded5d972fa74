//! Which process holds a mail intent or a bulk item, and whether it still lives.
//!
//! A holder is recorded as host, pid and the process's start time (Linux: field 22 of
//! `/proc/PID/stat`, clock ticks since boot), so a pid reused by another program is not taken
//! for the original. On the same host a holder is alive while `/proc/PID/stat` names a running
//! (not zombie) process that started at that time. A holder on another host, or on a system
//! without `/proc`, cannot be asked: it counts as alive until its claim is [`FOREIGN_LEASE`]
//! old. (SQLite over a network file system is not safe anyway; pwreset expects one host.)
//!
//! Nothing here touches the store or prints.

use std::sync::OnceLock;

use crate::store::intents::Owner;

/// How long a holder that cannot be asked (another host, no `/proc`) keeps its claim, seconds.
pub const FOREIGN_LEASE: i64 = 3600;

/// This process.
pub fn me() -> &'static Owner {
    static ME: OnceLock<Owner> = OnceLock::new();
    ME.get_or_init(|| {
        let pid = std::process::id();
        Owner {
            host: whoami::hostname().unwrap_or_else(|_| "unknown".into()),
            pid,
            started: stat(pid).map(|(_, started)| started),
        }
    })
}

/// The state letter and start time of process `pid`, from `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(char, i64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3 (state); the start time is field 22.
    let started = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, started))
}

/// Whether `holder` may still be working on what it claimed at `claimed_at`.
pub fn alive(holder: &Owner, claimed_at: i64, now: i64) -> bool {
    let me = me();
    if holder == me {
        return true;
    }
    if holder.host != me.host || me.started.is_none() {
        return now - claimed_at < FOREIGN_LEASE;
    }
    match stat(holder.pid) {
        None | Some(('Z' | 'X' | 'x', _)) => false,
        Some((_, started)) => holder.started.is_none_or(|s| s == started),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_missing_one_is_not() {
        let me = me().clone();
        assert!(alive(&me, 0, 0));
        if me.started.is_none() {
            return; // no /proc: only the lease applies, tested below
        }
        let gone = Owner {
            pid: u32::MAX - 1,
            ..me.clone()
        };
        assert!(!alive(&gone, 0, 0), "no such process");
        let reused = Owner {
            started: Some(-1),
            pid: std::os::unix::process::parent_id(),
            ..me
        };
        assert!(!alive(&reused, 0, 0), "the pid now names another process");
    }

    #[test]
    fn a_holder_on_another_host_keeps_its_lease_for_an_hour() {
        let other = Owner {
            host: format!("{}-elsewhere", me().host),
            pid: 1,
            started: Some(1),
        };
        assert!(alive(&other, 1000, 1000 + FOREIGN_LEASE - 1));
        assert!(!alive(&other, 1000, 1000 + FOREIGN_LEASE));
    }
}
