//! The profiles' data and statements, without an application: every statement binds its
//! values, and each profile's tables list what its statements name.

use super::profile::{Profile, ProfileName};
use crate::store::sql::Conn;

fn conn(dir: &tempfile::TempDir) -> Conn {
    let path = dir.path().join("app.db");
    rusqlite::Connection::open(&path).expect("create");
    Conn::open_application_sqlite(&path, 1000).expect("open")
}

#[test]
fn every_statement_names_only_the_profiles_tables_and_binds_its_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = conn(&dir);
    for name in ProfileName::ALL {
        let profile = Profile::builtin(name);
        let statements = [
            profile.find_by_login_sql(),
            profile.list_sql(&conn),
            profile.write_sql(),
            profile.after_write_sql().unwrap_or_default().to_string(),
        ];
        for sql in &statements {
            let quoted: Vec<&str> = sql.split('\'').skip(1).step_by(2).collect();
            assert!(
                quoted.iter().all(|q| *q == " "),
                "{name}: a literal in {sql}"
            );
        }
        assert_eq!(profile.tables[0].table, profile.users_table, "{name}");
        assert!(
            profile.tables[0].written.contains(&profile.password_column),
            "{name}"
        );
        for login in profile.login_columns {
            assert!(profile.tables[0].read.contains(login), "{name}: {login}");
        }
        assert!(
            statements[2].ends_with("WHERE id = ?2 AND password = ?3"),
            "{name}"
        );
    }
}

#[test]
fn a_profile_takes_other_settings_only_in_its_own_format() {
    use crate::hashfmt::{DjangoSettings, Format, HashSettings};
    let django = Profile::builtin(ProfileName::Django);
    let site = HashSettings::Pbkdf2Sha256Django(DjangoSettings {
        iterations: 870_000,
    });
    assert_eq!(django.with_hash(site).map(|p| p.hash), Some(site));
    assert_eq!(
        django.with_hash(HashSettings::default_for(Format::Bcrypt)),
        None
    );
    assert_eq!(
        Profile::builtin(ProfileName::Laravel).format(),
        Format::Bcrypt
    );
    assert_eq!(
        Profile::builtin(ProfileName::Odoo).format(),
        Format::Pbkdf2Sha512Passlib
    );
}

#[test]
fn who_gets_no_mail_and_why() {
    use super::{AppUser, Skip};
    let user = |active: bool, email: Option<&str>, password: Option<&str>| AppUser {
        id: 1,
        login: "alice".into(),
        email: email.map(str::to_string),
        name: String::new(),
        active,
        password: password.map(str::to_string),
    };
    let django = "pbkdf2_sha256$1000000$salt$aGFzaA==";
    let cases = [
        (user(true, Some("alice@example.com"), Some(django)), None),
        (
            user(
                true,
                Some("alice@example.com"),
                Some("argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA"),
            ),
            None,
        ),
        (
            user(true, Some("alice@example.com"), Some("an-old-plaintext")),
            None,
        ),
        (
            user(false, Some("alice@example.com"), Some(django)),
            Some(Skip::Inactive),
        ),
        (user(true, None, Some(django)), Some(Skip::NoEmail)),
        (
            user(true, Some("not an address"), Some(django)),
            Some(Skip::NoEmail),
        ),
        (
            user(true, Some("alice@example.com"), Some("!unusable")),
            Some(Skip::NoPasswordLogin),
        ),
        (
            user(true, Some("alice@example.com"), None),
            Some(Skip::NoPasswordLogin),
        ),
        (
            user(true, Some("alice@example.com"), Some("")),
            Some(Skip::NoPasswordLogin),
        ),
    ];
    for (user, want) in cases {
        assert_eq!(user.skip(), want, "{user:?}");
    }
    assert_eq!(
        Skip::NoPasswordLogin.to_string(),
        "no password login in the application"
    );
}
