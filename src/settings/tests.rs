//! Unit tests of settings: precedence of flags, environment, config file and defaults.

use super::*;
use crate::config::LoadedConfig;

fn resolve(flags: Flags, env: &[(&str, &str)]) -> Settings {
    Settings::resolve(flags, &Environment::from_pairs(env)).expect("settings resolve")
}

#[test]
fn format_flag_beats_environment_beats_default() {
    assert_eq!(resolve(Flags::default(), &[]).format, Format::Table);
    assert_eq!(
        resolve(Flags::default(), &[("PWRESET_FORMAT", "json")]).format,
        Format::Json
    );
    let flags = Flags {
        format: Some(Format::Csv),
        ..Flags::default()
    };
    assert_eq!(
        resolve(flags, &[("PWRESET_FORMAT", "json")]).format,
        Format::Csv
    );
}

#[test]
fn bad_format_in_environment_is_a_usage_error() {
    let err = Settings::resolve(
        Flags::default(),
        &Environment::from_pairs(&[("PWRESET_FORMAT", "xml")]),
    )
    .expect_err("xml is not a format");
    assert!(err.to_string().contains("PWRESET_FORMAT"));
}

#[test]
fn no_color_means_never_unless_a_flag_says_otherwise() {
    assert_eq!(resolve(Flags::default(), &[]).color, ColorChoice::Auto);
    assert_eq!(
        resolve(Flags::default(), &[("NO_COLOR", "1")]).color,
        ColorChoice::Never
    );
    assert_eq!(
        resolve(Flags::default(), &[("NO_COLOR", "")]).color,
        ColorChoice::Auto
    );
    let flags = Flags {
        color: Some(ColorChoice::Always),
        ..Flags::default()
    };
    assert_eq!(
        resolve(flags, &[("NO_COLOR", "1")]).color,
        ColorChoice::Always
    );
}

#[test]
fn db_flag_beats_environment_beats_config() {
    let loaded = LoadedConfig::new(
        PathBuf::from("/srv/pwreset.toml"),
        crate::config::Config::default(),
    )
    .expect("a valid config");
    let sqlite = |path: &str| Some(StoreLocation::Sqlite(PathBuf::from(path)));
    assert_eq!(
        resolve(Flags::default(), &[]).store_location(&loaded).ok(),
        sqlite("/srv/pwreset.db")
    );
    let env = [("PWRESET_DB", "/env.db")];
    assert_eq!(
        resolve(Flags::default(), &env).store_location(&loaded).ok(),
        sqlite("/env.db")
    );
    let flags = Flags {
        db: Some(PathBuf::from("sqlite:/flag.db")),
        ..Flags::default()
    };
    assert_eq!(
        resolve(flags, &env).store_location(&loaded).ok(),
        sqlite("/flag.db")
    );
}

fn with_store(store: crate::config::StoreConfig) -> LoadedConfig {
    LoadedConfig::new(
        PathBuf::from("/srv/pwreset.toml"),
        crate::config::Config {
            store,
            ..crate::config::Config::default()
        },
    )
    .expect("a valid config")
}

#[test]
fn store_url_beats_store_path_and_loses_to_db() {
    let loaded = with_store(crate::config::StoreConfig {
        url: Some("postgres://app@db.internal/prod".into()),
        connect_timeout: Some(crate::config::Duration(std::time::Duration::from_secs(3))),
        ..crate::config::StoreConfig::default()
    });
    let Ok(StoreLocation::Postgres(target)) =
        resolve(Flags::default(), &[]).store_location(&loaded)
    else {
        panic!("store.url wins over store.path");
    };
    assert_eq!(target.to_string(), "postgres://app@db.internal:5432/prod");
    assert_eq!(target.connect_timeout, std::time::Duration::from_secs(3));
    let env = [(
        "PWRESET_DB",
        "postgres://other@db.internal/x?connect_timeout=7",
    )];
    let Ok(StoreLocation::Postgres(target)) =
        resolve(Flags::default(), &env).store_location(&loaded)
    else {
        panic!("PWRESET_DB wins over store.url");
    };
    assert_eq!(target.dbname, "x");
    assert_eq!(
        target.connect_timeout,
        std::time::Duration::from_secs(7),
        "the URL's own wins"
    );
    let relative = with_store(crate::config::StoreConfig {
        url: Some("sqlite:data/s.db".into()),
        ..crate::config::StoreConfig::default()
    });
    assert_eq!(
        resolve(Flags::default(), &[])
            .store_location(&relative)
            .ok(),
        Some(StoreLocation::Sqlite(PathBuf::from("/srv/data/s.db"))),
        "relative to the config file"
    );
}

#[test]
fn a_password_in_db_or_pwreset_db_is_refused_without_echoing_it() {
    for (flags, env) in [
        (
            Flags {
                db: Some(PathBuf::from("postgres://u:hunter2@h/db")),
                ..Flags::default()
            },
            vec![],
        ),
        (
            Flags::default(),
            vec![("PWRESET_DB", "postgres://u:hunter2@h/db")],
        ),
    ] {
        let err = Settings::resolve(flags, &Environment::from_pairs(&env)).expect_err("refused");
        assert!(
            matches!(
                &err,
                SettingsError::StoreUrl {
                    error: TargetError::PasswordInUrl,
                    ..
                }
            ),
            "{err}"
        );
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[test]
fn sources_say_where_values_came_from() {
    let flags = Flags {
        db: Some(PathBuf::from("/x.db")),
        ..Flags::default()
    };
    let settings = resolve(flags, &[("PWRESET_FORMAT", "json")]);
    assert_eq!(settings.sources.db, Source::Flag);
    assert_eq!(settings.sources.format, Source::Environment);
    assert_eq!(settings.sources.config, Source::Default);
}

#[test]
fn config_flag_beats_environment() {
    let env = [("PWRESET_CONFIG", "/env.toml")];
    assert_eq!(
        resolve(Flags::default(), &env).config_path().ok(),
        Some(PathBuf::from("/env.toml"))
    );
    let flags = Flags {
        config: Some(PathBuf::from("/flag.toml")),
        ..Flags::default()
    };
    assert_eq!(
        resolve(flags, &env).config_path().ok(),
        Some(PathBuf::from("/flag.toml"))
    );
}

#[test]
fn search_path_prefers_xdg_over_home() {
    let env = Environment::from_pairs(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]);
    assert_eq!(
        search_path(&env)[1],
        PathBuf::from("/x/pwreset/config.toml")
    );
    let env = Environment::from_pairs(&[("HOME", "/h")]);
    assert_eq!(
        search_path(&env)[1],
        PathBuf::from("/h/.config/pwreset/config.toml")
    );
    let paths = search_path(&Environment::default());
    assert_eq!(
        paths,
        vec![
            PathBuf::from("pwreset.toml"),
            PathBuf::from("/etc/pwreset/config.toml")
        ]
    );
}

#[test]
fn the_test_system_config_replaces_etc_in_debug_builds_only() {
    let env = Environment::from_pairs(&[("PWRESET_TEST_SYSTEM_CONFIG", "/t/config.toml")]);
    let expected = if cfg!(debug_assertions) {
        "/t/config.toml"
    } else {
        "/etc/pwreset/config.toml"
    };
    assert_eq!(search_path(&env).last(), Some(&PathBuf::from(expected)));
}

#[test]
fn missing_config_names_every_place_searched() {
    let settings = resolve(Flags::default(), &[("XDG_CONFIG_HOME", "/nonexistent-xdg")]);
    let err = settings.find_config(|_| false).expect_err("nothing there");
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent-xdg/pwreset/config.toml"),
        "{text}"
    );
    assert!(text.contains("/etc/pwreset/config.toml"), "{text}");
}

/// The lookup asks only its `exists`, in search order, so a `./pwreset.toml` left in the checkout
/// by the README's quick start (the working directory of `cargo test`) cannot change a test.
#[test]
fn the_config_search_asks_only_what_it_is_given_in_order() {
    let settings = resolve(Flags::default(), &[("HOME", "/h")]);
    let asked = std::cell::RefCell::new(Vec::new());
    let found = settings.find_config(|path| {
        asked.borrow_mut().push(path.to_path_buf());
        path.starts_with("/etc")
    });
    assert_eq!(found.ok(), Some(PathBuf::from("/etc/pwreset/config.toml")));
    assert_eq!(
        asked.into_inner(),
        search_path(&Environment::from_pairs(&[("HOME", "/h")]))
    );
    assert!(settings.find_config(|_| false).is_err());
}

#[test]
fn test_clock_accepts_seconds_and_rfc3339() {
    let at = resolve(Flags::default(), &[("PWRESET_TEST_NOW", "1800000000")]).now;
    assert_eq!(at.as_second(), 1_800_000_000);
    let at = resolve(
        Flags::default(),
        &[("PWRESET_TEST_NOW", "2026-11-22T10:00:00Z")],
    )
    .now;
    assert_eq!(at.to_string(), "2026-11-22T10:00:00Z");
}

#[test]
#[cfg(debug_assertions)]
fn the_crash_hook_names_a_step_or_is_refused() {
    use crate::delivery::CrashPoint;
    let crash = |text: &str| {
        Settings::resolve(
            Flags::default(),
            &Environment::from_pairs(&[("PWRESET_TEST_CRASH_AT", text)]),
        )
        .map(|s| s.crash_at)
    };
    assert_eq!(crash("after-intent"), Ok(Some(CrashPoint::AfterIntent)));
    assert_eq!(crash("before-commit"), Ok(Some(CrashPoint::BeforeCommit)));
    assert_eq!(crash(""), Ok(None), "empty is unset");
    assert_eq!(
        crash("later"),
        Err(SettingsError::TestCrashAt("later".into()))
    );
}

/// Only `cargo test --release` runs this: a release build must ignore the test hooks.
#[test]
#[cfg(not(debug_assertions))]
fn release_builds_ignore_the_crash_hook() {
    let settings = resolve(Flags::default(), &[("PWRESET_TEST_CRASH_AT", "after-send")]);
    assert_eq!(settings.crash_at, None);
}

/// Only `cargo test --release` runs this: a release build must ignore the test clock.
#[test]
#[cfg(not(debug_assertions))]
fn release_builds_ignore_the_test_clock() {
    let at = resolve(Flags::default(), &[("PWRESET_TEST_NOW", "4000000000")]).now;
    assert!(at.as_second() < 4_000_000_000);
}

#[test]
fn actor_with_control_characters_is_refused() {
    let flags = Flags {
        actor: Some("eve\u{1b}[2J".into()),
        ..Flags::default()
    };
    assert!(Settings::resolve(flags, &Environment::default()).is_err());
}

fn loaded(edit: impl FnOnce(&mut crate::config::Config)) -> LoadedConfig {
    let mut config = crate::config::Config::default();
    edit(&mut config);
    LoadedConfig::new(PathBuf::from("/srv/pwreset.toml"), config).expect("a valid config")
}

fn recipient(config: &LoadedConfig, overrides: &Overrides, user: Option<&str>) -> Option<String> {
    recipient_rule(config, overrides)
        .for_user(user)
        .map(|to| to.to_string())
}

#[test]
fn to_flag_beats_admin_email_beats_the_users_own_address() {
    let admin = loaded(|c| {
        c.mail.deliver_to = crate::config::DeliverTo::Admin;
        c.mail.admin_email = Some("admin@example.com".into());
    });
    let none = Overrides::default();
    let to = Overrides {
        to: Some("desk@example.com".parse().expect("an address")),
        ..Overrides::default()
    };
    let user = Some("alice@example.com");
    assert_eq!(
        recipient(&admin, &to, user).as_deref(),
        Some("desk@example.com")
    );
    assert_eq!(
        recipient(&admin, &none, user).as_deref(),
        Some("admin@example.com")
    );
    let plain = loaded(|_| {});
    assert_eq!(recipient(&plain, &none, user).as_deref(), user);
    assert_eq!(recipient(&plain, &none, Some("")), None);
    assert_eq!(recipient(&plain, &none, None), None);
}

#[test]
fn rate_flag_beats_the_config() {
    let config = loaded(|c| c.mail.rate = Some(60));
    assert_eq!(
        pacing(&config, &Overrides::default()).min_interval,
        Some(std::time::Duration::from_secs(1))
    );
    let flag = Overrides {
        rate: Some(120),
        ..Overrides::default()
    };
    assert_eq!(
        pacing(&config, &flag).min_interval,
        Some(std::time::Duration::from_millis(500))
    );
}
