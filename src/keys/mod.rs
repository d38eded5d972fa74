//! The secrets that sign and digest: the audit key (kept outside the store, it keys every audit
//! row's MAC) and the keys derived from it (one-time link codes, the page's session cookies).
//!
//! A leaf: it imports nothing of pwreset's domain but the file-mode check. Neither the store nor
//! its connections hold a key; whoever appends an audit row, issues or checks a code passes the
//! key in (the audit row's [`crate::audit::Actor`] carries the audit key).

mod audit;
mod code;

pub use audit::{AuditKey, KEY_LEN, KeyError};
pub use code::{CodeKey, KEY_LABEL};
