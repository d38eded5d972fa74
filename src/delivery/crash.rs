//! A debug-build-only fault hook for the crash tests: abort the process at an exact step of
//! "mail a secret, then commit", as a power cut or `kill -9` would. `settings` reads
//! `PWRESET_TEST_CRASH_AT` (debug builds only) and the CLI arms the hook once; release builds
//! never abort here.

use std::sync::OnceLock;

/// A step of a mail carrying a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The intent is committed; the mail was not handed to the transport.
    AfterIntent,
    /// The transport accepted the mail; nothing was committed.
    AfterSend,
    /// The commit's transaction is written but not committed.
    BeforeCommit,
}

impl CrashPoint {
    /// `after-intent`, `after-send` or `before-commit`.
    pub fn parse(text: &str) -> Option<CrashPoint> {
        match text {
            "after-intent" => Some(CrashPoint::AfterIntent),
            "after-send" => Some(CrashPoint::AfterSend),
            "before-commit" => Some(CrashPoint::BeforeCommit),
            _ => None,
        }
    }
}

static ARMED: OnceLock<CrashPoint> = OnceLock::new();

/// Arm the hook (debug builds only; the first call wins).
pub fn arm(point: Option<CrashPoint>) {
    if let Some(point) = point.filter(|_| cfg!(debug_assertions)) {
        let _ = ARMED.set(point);
    }
}

/// Abort the process here if the hook is armed for `point`.
pub fn at(point: CrashPoint) {
    if cfg!(debug_assertions) && ARMED.get() == Some(&point) {
        eprintln!("pwreset: PWRESET_TEST_CRASH_AT: aborting at {point:?}");
        std::process::abort();
    }
}
