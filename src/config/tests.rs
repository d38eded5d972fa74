//! Unit tests of loading and validating the config file.

use std::path::Path;

use super::load::line_and_column;
use super::*;

fn parse_str(text: &str) -> Result<Config, ConfigError> {
    parse(Path::new("/etc/pwreset/config.toml"), text)
}

#[test]
fn example_config_mentions_every_key() {
    let text = include_str!("../../config.example.toml");
    let optional = [
        "store.url",
        "store.password_file",
        "store.connect_timeout",
        "mail.admin_email",
        "mail.reply_to",
        "mail.rate",
        "mail.smtp.port",
        "mail.smtp.username",
        "mail.smtp.password_file",
        "mail.smtp.ca_file",
        "links.base_url",
        "templates.dir",
        "templates.support_contact",
        "templates.login_url",
        "serve.logo_url",
        "serve.store_connections",
    ];
    let keys = settings_of(&Config::default())
        .into_iter()
        .map(|(k, _)| k)
        .chain(optional.iter().map(|k| (*k).to_string()));
    for key in keys {
        let (section, name) = key.rsplit_once('.').unwrap_or(("", &key));
        let header = format!("[{section}]");
        let at = text
            .find(&header)
            .unwrap_or_else(|| panic!("no section {header} for {key}"));
        let body = &text[at..];
        let body = &body[..body[1..].find("\n[").map_or(body.len(), |i| i + 1)];
        assert!(
            body.contains(&format!("\n{name} =")) || body.contains(&format!("# {name} =")),
            "{key} is not in config.example.toml"
        );
    }
}

#[test]
fn example_config_lists_the_defaults() {
    let text = include_str!("../../config.example.toml");
    assert_eq!(parse_str(text).expect("example parses"), Config::default());
}

#[test]
fn per_template_values_override_the_shared_ones() {
    let text = "[templates]\napp_name = \"Shop\"\nsupport_contact = \"help@shop\"\n[templates.access-info]\napp_name = \"Shop Admin\"\n";
    let config = parse_str(text).expect("parses");
    assert_eq!(
        config.templates.values_for("access-info"),
        ("Shop Admin".into(), Some("help@shop".into()))
    );
    assert_eq!(
        config.templates.values_for("password-change-link"),
        ("Shop".into(), Some("help@shop".into()))
    );
    assert!(
        parse_str("[templates.access-info]\ncolour = 1\n").is_err(),
        "unknown keys are rejected"
    );
}

#[test]
fn the_rehearsal_config_in_contrib_is_valid() {
    let config = parse_str(include_str!("../../contrib/rehearsal.toml"))
        .expect("contrib/rehearsal.toml parses");
    assert_eq!(config.mail.deliver_to, DeliverTo::Admin);
    assert_eq!(
        config.mail.admin_email.as_deref(),
        Some("helpdesk@example.com")
    );
}

#[test]
fn empty_file_gives_defaults() {
    let config = parse_str("").expect("empty config parses");
    assert_eq!(config, Config::default());
    assert_eq!(config.store.path, PathBuf::from("pwreset.db"));
    assert_eq!(config.mail.transport, Transport::File);
}

#[test]
fn unknown_key_is_rejected_with_line_and_column() {
    let err = parse_str("[store]\npath = \"x.db\"\ncolour = 3\n").expect_err("unknown key");
    let text = err.to_string();
    assert!(text.starts_with("/etc/pwreset/config.toml:3:1: "), "{text}");
    assert!(text.contains("unknown field `colour`"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

#[test]
fn wrong_type_names_what_was_expected() {
    let err = parse_str("[store]\nbusy_timeout_ms = \"soon\"\n").expect_err("wrong type");
    let text = err.to_string();
    assert!(text.contains(":2:19:"), "{text}");
    assert!(
        text.contains("invalid type: string \"soon\", expected u32"),
        "{text}"
    );
}

#[test]
fn syntax_error_has_position() {
    let err = parse_str("[store\n").expect_err("syntax");
    assert!(matches!(err, ConfigError::Invalid { line: 1, .. }), "{err}");
}

#[test]
fn unknown_transport_is_rejected() {
    let err = parse_str("[mail]\ntransport = \"pigeon\"\n").expect_err("transport");
    assert!(
        err.to_string().contains("unknown variant `pigeon`"),
        "{err}"
    );
}

#[test]
fn bad_from_is_rejected() {
    let err = parse_str("[mail]\nfrom = \"not an address\"\n").expect_err("from");
    assert!(err.to_string().contains("mail.from"), "{err}");
}

#[test]
fn the_default_locale_is_checked_and_kept_in_canonical_form() {
    let loaded = |text: &str| {
        let config = parse_str(text).expect("parses");
        LoadedConfig::new(PathBuf::from("/srv/pwreset.toml"), config)
    };
    let default = loaded("").expect("valid");
    assert_eq!(default.parsed.default_locale.as_str(), "en");
    let brazil = loaded("[mail]\ndefault_locale = \"PT-br\"\n").expect("valid");
    assert_eq!(brazil.parsed.default_locale.as_str(), "pt-BR");
    let err = parse_str("[mail]\ndefault_locale = \"Polish\"\n").expect_err("bad tag");
    let text = err.to_string();
    assert!(text.contains("mail.default_locale"), "{text}");
    assert!(text.contains("\"Polish\" is not a language tag"), "{text}");
}

#[test]
fn sendmail_timeout_is_a_duration_between_1s_and_5m() {
    let config = parse_str("[mail.sendmail]\ntimeout = \"2s\"\n").expect("2s");
    assert_eq!(config.mail.sendmail.timeout.secs(), 2);
    for bad in ["0s", "10m"] {
        let err = parse_str(&format!("[mail.sendmail]\ntimeout = \"{bad}\"\n")).expect_err(bad);
        assert!(err.to_string().contains("mail.sendmail.timeout"), "{err}");
    }
    let err = parse_str("[mail.sendmail]\ntimeout = \"soon\"\n").expect_err("not a duration");
    assert!(err.to_string().contains("not a duration"), "{err}");
}

#[test]
fn plain_smtp_only_to_loopback_and_without_credentials() {
    let remote =
        "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"mail.example.com\"\ntls = \"none\"\n";
    assert!(
        parse_str(remote)
            .expect_err("remote plain")
            .to_string()
            .contains("loopback")
    );
    let creds = "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"127.0.0.1\"\ntls = \"none\"\nusername = \"u\"\n";
    assert!(
        parse_str(creds)
            .expect_err("creds in clear")
            .to_string()
            .contains("username")
    );
    let local = "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"localhost\"\ntls = \"none\"\n";
    assert_eq!(parse_str(local).expect("local relay").mail.smtp.port(), 25);
    let tls = "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"smtp.example.com\"\nusername = \"u\"\n";
    assert_eq!(parse_str(tls).expect("starttls").mail.smtp.port(), 587);
}

#[test]
fn base_url_rules() {
    assert!(check_base_url("https://app.example.com/reset").is_ok());
    assert!(check_base_url("http://localhost:8080/reset").is_ok());
    assert!(check_base_url("http://127.0.0.1/reset").is_ok());
    assert!(check_base_url("http://app.example.com/reset").is_err());
    assert!(check_base_url("https://user:pw@app.example.com/").is_err());
    assert!(check_base_url("https://app.example.com/#x").is_err());
    assert!(check_base_url("ftp://app.example.com/").is_err());
    assert!(check_base_url("javascript:alert(1)").is_err());
    let err = parse_str("[links]\nbase_url = \"http://evil.example\"\n").expect_err("http");
    assert!(err.to_string().contains("links.base_url"), "{err}");
}

#[test]
fn link_ttl_must_be_between_5m_and_24h() {
    assert!(parse_str("[links]\nttl = \"4m\"\n").is_err());
    assert!(parse_str("[links]\nttl = \"25h\"\n").is_err());
    assert_eq!(
        parse_str("[links]\nttl = \"2h\"\n")
            .expect("2h")
            .links
            .ttl
            .secs(),
        7200
    );
    let err = parse_str("[links]\nttl = \"soon\"\n").expect_err("bad duration");
    assert!(err.to_string().contains(":2:7:"), "{err}");
}

#[test]
fn admin_delivery_needs_an_admin_address() {
    assert!(parse_str("[mail]\ndeliver_to = \"admin\"\n").is_err());
    let ok = parse_str("[mail]\ndeliver_to = \"admin\"\nadmin_email = \"ops@example.com\"\n");
    assert_eq!(ok.expect("admin").mail.deliver_to, DeliverTo::Admin);
}

#[test]
fn argon2_parameters_may_only_go_up() {
    assert!(parse_str("[password]\nargon2_memory_kib = 1024\n").is_err());
    assert!(parse_str("[password]\nargon2_memory_kib = 65536\nargon2_iterations = 3\n").is_ok());
}

#[test]
fn relative_paths_resolve_beside_the_config() {
    let loaded = LoadedConfig::new(PathBuf::from("/srv/app/pwreset.toml"), Config::default())
        .expect("a valid config");
    assert_eq!(
        loaded.resolve(Path::new("pwreset.db")),
        PathBuf::from("/srv/app/pwreset.db")
    );
    assert_eq!(
        loaded.resolve(Path::new("/var/db/x.db")),
        PathBuf::from("/var/db/x.db")
    );
}

#[test]
fn line_and_column_count_characters() {
    assert_eq!(line_and_column("ab\ncd", 4), (2, 2));
    assert_eq!(line_and_column("", 0), (1, 1));
}

#[test]
fn values_checked_at_load_are_kept_in_their_types() {
    let text = "[mail]\nfrom = \"Example <no-reply@example.com>\"\nreply_to = \"help@example.com\"\n\
                [links]\nbase_url = \"https://app.example.com/reset\"\n";
    let config = parse_str(text).expect("parses");
    let loaded = LoadedConfig::new(PathBuf::from("/srv/pwreset.toml"), config).expect("valid");
    let parsed = &loaded.parsed;
    assert_eq!(
        parsed.base_url.as_ref().map(url::Url::as_str),
        Some("https://app.example.com/reset")
    );
    assert_eq!(parsed.from.email.to_string(), "no-reply@example.com");
    assert_eq!(parsed.from.name.as_deref(), Some("Example"));
    assert_eq!(
        parsed.reply_to.as_ref().map(|m| m.email.to_string()),
        Some("help@example.com".to_string())
    );
    let mut bad = Config::default();
    bad.links.base_url = Some("http://evil.example.com/reset".into());
    assert!(LoadedConfig::new(PathBuf::from("/srv/pwreset.toml"), bad).is_err());
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// An error shown to the operator: one line of bounded length.
    fn one_short_line(text: &str) -> Result<(), TestCaseError> {
        prop_assert!(!text.contains(['\n', '\r']), "{text:?}");
        prop_assert!(text.len() <= 400, "{} bytes: {text:?}", text.len());
        Ok(())
    }

    /// Config-shaped text: a known section and key with an arbitrary value.
    fn config_text() -> impl Strategy<Value = String> {
        let section = prop_oneof![
            Just("mail"),
            Just("links"),
            Just("store"),
            Just("password"),
            Just("templates"),
            Just("mail.smtp"),
            Just("security"),
        ];
        let key = prop_oneof![
            Just("from"),
            Just("base_url"),
            Just("ttl"),
            Just("timeout"),
            Just("path"),
            Just("rate"),
            Just("transport"),
            Just("busy_timeout_ms"),
        ];
        let value = prop_oneof![
            any::<String>().prop_map(|s| format!("{s:?}")),
            any::<i64>().prop_map(|n| n.to_string()),
            Just("true".to_string()),
            "[ -~]{0,200}",
        ];
        (section, key, value).prop_map(|(s, k, v)| format!("[{s}]\n{k} = {v}\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Arbitrary text never panics the parser; every error is one short line.
        #[test]
        fn any_text_parses_or_fails_in_one_line(text in prop_oneof![any::<String>(), config_text()]) {
            if let Err(err) = parse(Path::new("/etc/pwreset.toml"), &text) {
                one_short_line(&err.to_string())?;
            }
        }

        /// Arbitrary duration text never panics; the error is one short line.
        #[test]
        fn any_duration_text_parses_or_fails_in_one_line(
            text in prop_oneof![any::<String>(), "[0-9]{1,30} ?[a-z]{0,8}", "[0-9]{1,3}[a-z]{300,2000}", ".{0,2000}"],
        ) {
            if let Err(err) = Duration::try_from(text) {
                one_short_line(&err)?;
            }
        }
    }
}
