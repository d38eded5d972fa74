//! File-mode checks that several layers share: is a file readable or writable by group or
//! others? A leaf: it imports nothing of pwreset, so the store, the keys and the settings can all
//! use it without depending on one another.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The permission bits of a file if group or others may read or write it; `None` when the file
/// is private to its owner or cannot be read.
pub fn loose_mode(path: &Path) -> Option<u32> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_mode_reports_group_readable_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, "x").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert_eq!(loose_mode(&path), Some(0o640));
    }
}
