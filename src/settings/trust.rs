//! The rule for files that pwreset runs or reads its instructions from (config, SMTP password
//! file, templates, store, mail folder, sendmail program): who may have written them.
//!
//! As `sudo` does for its sudoers files and `ssh` (`StrictModes`) for its keys and config, a file
//! is trusted when it is owned by root or by the user running pwreset, and writable by nobody
//! else: not by its group, not by others. A directory writable by others is fine with the sticky
//! bit (like `/tmp`), where nobody can replace what others own. A file the running user owns,
//! run as that (non-root) user, is theirs to keep as they like. This module decides; it prints
//! nothing and knows nothing of flags or exit codes (the CLI words the hint and picks the code).
//! The running user's id is a parameter, so the rule is tested with any user.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What is wrong with a file that must be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Owned by a user other than root and the user running pwreset.
    OwnedByOther,
    /// Writable by its group.
    WritableByGroup,
    /// Writable by others (a directory without the sticky bit).
    WritableByOthers,
}

impl Problem {
    fn phrase(self) -> &'static str {
        match self {
            Problem::OwnedByOther => "is owned by another user",
            Problem::WritableByGroup => "is writable by its group",
            Problem::WritableByOthers => "is writable by others",
        }
    }
}

/// A file or directory pwreset refuses to use, with what it is, who owns it and its mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {path} {phrase} (owner {owner}, mode {mode:o})", path = path.display(), phrase = problem.phrase(), owner = owner_name(*.owner))]
pub struct Untrusted {
    /// What it is, e.g. `config file` or `sendmail program /usr/sbin/sendmail: directory`.
    pub what: String,
    /// The file or directory at fault.
    pub path: PathBuf,
    /// Its owner's uid.
    pub owner: u32,
    /// Its permission bits (with the sticky bit).
    pub mode: u32,
    /// What is wrong.
    pub problem: Problem,
}

/// The rule: what is wrong, if anything, with a file owned by `owner` with `mode`, for a
/// process running as `euid`. Root and `euid` may own it; group and others may not write it
/// (a sticky directory excepted). A non-root user's own file is not checked further.
pub fn problem(owner: u32, mode: u32, is_dir: bool, euid: u32) -> Option<Problem> {
    if owner == euid && euid != 0 {
        return None;
    }
    if owner != 0 && owner != euid {
        return Some(Problem::OwnedByOther);
    }
    let sticky_dir = is_dir && mode & 0o1000 != 0;
    if sticky_dir {
        None
    } else if mode & 0o002 != 0 {
        Some(Problem::WritableByOthers)
    } else if mode & 0o020 != 0 {
        Some(Problem::WritableByGroup)
    } else {
        None
    }
}

/// Check `path` (following symlinks) with [`problem`]; `what` names it in the error. A path
/// that does not exist, or cannot be examined, passes: using it fails later with its own error.
pub fn check_trusted(what: &str, path: &Path, euid: u32) -> Result<(), Untrusted> {
    planted_symlink(what, path, euid)?;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let mode = meta.mode() & 0o7777;
    match problem(meta.uid(), mode, meta.is_dir(), euid) {
        None => Ok(()),
        Some(problem) => Err(Untrusted {
            what: what.to_string(),
            path: path.to_path_buf(),
            owner: meta.uid(),
            mode,
            problem,
        }),
    }
}

/// A symlink is judged by its owner too (its own mode means nothing): one that another user
/// planted, pointing at a file of root's, is refused like a planted file.
fn planted_symlink(what: &str, path: &Path, euid: u32) -> Result<(), Untrusted> {
    match std::fs::symlink_metadata(path) {
        Ok(link) if link.file_type().is_symlink() && link.uid() != 0 && link.uid() != euid => {
            Err(Untrusted {
                what: format!("{what} (a symlink)"),
                path: path.to_path_buf(),
                owner: link.uid(),
                mode: link.mode() & 0o7777,
                problem: Problem::OwnedByOther,
            })
        }
        _ => Ok(()),
    }
}

/// Check a file and every directory on its path up to `/`, both as given and with symlinks
/// resolved: whoever can write any of them can replace the file (a program, a config, a key)
/// between pwreset's check and its use, as `ssh`'s `StrictModes` also considers.
pub fn check_path(what: &str, program: &Path, euid: u32) -> Result<(), Untrusted> {
    check_trusted(what, program, euid)?;
    let real = std::fs::canonicalize(program).ok();
    let shown = format!("{what} {}: directory", program.display());
    for path in std::iter::once(program).chain(real.as_deref()) {
        if path != program {
            check_trusted(what, path, euid)?;
        }
        for dir in path
            .ancestors()
            .skip(1)
            .filter(|d| !d.as_os_str().is_empty())
        {
            check_trusted(&shown, dir, euid)?;
        }
    }
    Ok(())
}

/// The effective uid of this process.
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// `root`, `nobody (uid 65534)`, or `uid 1234` for a uid without a name.
fn owner_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) if uid == 0 => user.name,
        Ok(Some(user)) => format!("{} (uid {uid})", user.name),
        _ => format!("uid {uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: u32 = 1000;
    const OTHER: u32 = 65534;

    #[test]
    fn root_or_the_running_user_may_own_it() {
        for euid in [0, ME] {
            assert_eq!(problem(0, 0o644, false, euid), None);
            assert_eq!(problem(euid, 0o600, false, euid), None);
            assert_eq!(
                problem(OTHER, 0o644, false, euid),
                Some(Problem::OwnedByOther)
            );
            assert_eq!(
                problem(OTHER, 0o1777, true, euid),
                Some(Problem::OwnedByOther),
                "a sticky directory owned by another user is still theirs"
            );
        }
    }

    #[test]
    fn nobody_else_may_write_it() {
        for euid in [0, ME] {
            assert_eq!(
                problem(0, 0o664, false, euid),
                Some(Problem::WritableByGroup)
            );
            assert_eq!(
                problem(0, 0o646, false, euid),
                Some(Problem::WritableByOthers)
            );
            assert_eq!(
                problem(0, 0o777, true, euid),
                Some(Problem::WritableByOthers)
            );
            assert_eq!(problem(0, 0o1777, true, euid), None, "like /tmp");
            assert_eq!(
                problem(0, 0o1777, false, euid),
                Some(Problem::WritableByOthers),
                "the sticky bit means nothing on a file"
            );
        }
    }

    #[test]
    fn as_root_even_roots_own_loose_file_is_refused() {
        assert_eq!(problem(0, 0o666, false, 0), Some(Problem::WritableByOthers));
        assert_eq!(problem(0, 0o660, false, 0), Some(Problem::WritableByGroup));
    }

    #[test]
    fn a_users_own_file_run_as_that_user_is_theirs() {
        assert_eq!(problem(ME, 0o666, false, ME), None);
    }

    #[test]
    fn the_error_names_the_file_owner_and_mode() {
        let err = Untrusted {
            what: "config file".into(),
            path: "/srv/pwreset.toml".into(),
            owner: 0,
            mode: 0o664,
            problem: Problem::WritableByGroup,
        };
        assert_eq!(
            err.to_string(),
            "config file /srv/pwreset.toml is writable by its group (owner root, mode 664)"
        );
    }

    #[test]
    fn a_program_in_a_directory_writable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        let program = bin.join("sendmail");
        std::fs::write(&program, "#!/bin/sh\n").expect("write");
        let euid = euid();
        assert_eq!(check_path("sendmail program", &program, euid), Ok(()));
        set_mode(&bin, 0o777);
        let err = check_path("sendmail program", &program, euid).expect_err("refused");
        assert_eq!(err.path, bin);
        assert_eq!(err.problem, Problem::WritableByOthers);
        set_mode(&bin, 0o1777);
        assert_eq!(check_path("sendmail program", &program, euid), Ok(()));
    }

    #[test]
    fn a_symlink_planted_by_another_user_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("real.toml");
        std::fs::write(&target, "").expect("write");
        let link = dir.path().join("pwreset.toml");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert_eq!(check_trusted("config file", &link, euid()), Ok(()));
        std::os::unix::fs::lchown(&link, Some(65534), None).expect("lchown");
        let err = check_trusted("config file", &link, euid()).expect_err("refused");
        assert_eq!((err.owner, err.problem), (65534, Problem::OwnedByOther));
        assert!(
            err.to_string().starts_with("config file (a symlink) "),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_passes_to_fail_later() {
        assert_eq!(
            check_trusted("config file", Path::new("/nonexistent/x"), 0),
            Ok(())
        );
    }

    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
}
