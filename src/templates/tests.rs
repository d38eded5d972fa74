use super::*;

fn vars(name: &str) -> Vars {
    Vars {
        user: UserVars {
            name: name.into(),
            username: "alice".into(),
            email: Some("alice@example.com".into()),
            locale: None,
        },
        link: Some("https://app.example.com/reset?token=abc&x=1".into()),
        cancel_link: Some("https://app.example.com/reset/cancel?token=abc&x=1".into()),
        code: Some("K7QF-M2XD".into()),
        page_url: Some("https://app.example.com/reset".into()),
        expires_at: Some("2026-11-22 11:00 UTC".into()),
        expires_in: Some(3600),
        app_name: "Example".into(),
        support_contact: Some("help@example.com".into()),
        password: None,
        login_url: None,
        by_admin: true,
        note: None,
        new_email: Some("b***@example.org".into()),
    }
}

#[test]
fn link_mail_says_who_link_expiry_and_what_to_do() {
    let mail = Templates::new(None)
        .render("password-change-link", &vars("Alice"))
        .expect("render");
    assert_eq!(mail.subject, "Reset your Example password");
    let text = mail.text.expose();
    assert!(text.starts_with("Hello Alice,"), "{text}");
    assert!(
        text.contains("https://app.example.com/reset?token=abc&x=1"),
        "text is not escaped: {text}"
    );
    assert!(text.contains("expires in 1 hour, at 2026-11-22 11:00 UTC"));
    assert!(text.contains("If you did not ask for this"));
    assert!(text.contains("contact help@example.com"));
    let html = mail.html.expose();
    assert!(
        html.contains("href=\"https://app.example.com/reset?token=abc&amp;x=1\""),
        "{html}"
    );
}

#[test]
fn html_is_escaped_and_text_is_not() {
    let mail = Templates::new(None)
        .render("password-change-link", &vars("<script>alert(1)</script>"))
        .expect("render");
    assert!(
        mail.html
            .expose()
            .contains("Hello &lt;script&gt;alert(1)&lt;/script&gt;,"),
        "{}",
        mail.html.expose()
    );
    assert!(!mail.html.expose().contains("<script>"));
    assert!(
        mail.text
            .expose()
            .contains("Hello <script>alert(1)</script>,")
    );
}

#[test]
fn a_file_in_the_dir_overrides_one_part() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("password-change-link.subject.txt"),
        "{{ app_name }}: new password link for {{ user.username }}",
    )
    .expect("write");
    let mail = Templates::new(Some(dir.path()))
        .render("password-change-link", &vars("Alice"))
        .expect("render");
    assert_eq!(mail.subject, "Example: new password link for alice");
    assert!(
        mail.text.expose().starts_with("Hello Alice,"),
        "other parts stay built-in"
    );
}

#[test]
fn unknown_variables_and_syntax_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("password-change-link.txt"),
        "Hi\n{{ user.nmae }}\n",
    )
    .expect("write");
    let err = Templates::new(Some(dir.path()))
        .render("password-change-link", &vars("A"))
        .expect_err("unknown var");
    assert_eq!(err.file, "password-change-link.txt");
    assert!(err.message.starts_with("line 2: "), "{}", err.message);
    std::fs::write(dir.path().join("password-change-link.txt"), "{% if %}").expect("write");
    assert!(
        Templates::new(Some(dir.path()))
            .render("password-change-link", &vars("A"))
            .is_err()
    );
}

#[test]
fn a_subject_cannot_break_into_headers() {
    let mail = Templates::new(None)
        .render("password-change-link", &vars("x"))
        .expect("ok");
    assert!(!mail.subject.contains('\n'));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("password-change-link.subject.txt"),
        "Hi {{ user.name }}",
    )
    .expect("write");
    let err = Templates::new(Some(dir.path()))
        .render("password-change-link", &vars("a\r\nBcc: evil@example.com"))
        .expect_err("newline");
    assert!(err.message.contains("more than one line"));
}

#[test]
fn access_info_carries_the_password_and_login_instructions() {
    let mut v = vars("Alice");
    v.link = None;
    v.password = Some("Xk7pQ2mZ9rT4wV8n".into());
    v.login_url = Some("https://app.example.com/login".into());
    v.expires_in = Some(86_400);
    let mail = Templates::new(None)
        .render("access-info", &v)
        .expect("render");
    let text = mail.text.expose();
    assert!(
        text.contains("Temporary password: Xk7pQ2mZ9rT4wV8n"),
        "{text}"
    );
    assert!(
        text.contains("Log in at https://app.example.com/login with these details"),
        "{text}"
    );
    assert!(text.contains("choose a new one when you log in"));
    assert!(text.contains("stops working in 24 hours, at 2026-11-22 11:00 UTC"));
    assert!(mail.html.expose().contains("<code>Xk7pQ2mZ9rT4wV8n</code>"));
}

#[test]
fn the_change_notice_carries_no_secret() {
    let mut v = vars("Alice");
    v.link = None;
    let mail = Templates::new(None)
        .render("password-changed", &v)
        .expect("render");
    assert_eq!(mail.subject, "Your Example password was reset");
    assert!(
        mail.text
            .expose()
            .contains("An administrator has reset the password")
    );
    assert!(!mail.text.expose().contains("http"), "no link, no password");
    v.by_admin = false;
    let mail = Templates::new(None)
        .render("password-changed", &v)
        .expect("render");
    assert_eq!(mail.subject, "Your Example password was changed");
    assert!(
        mail.text
            .expose()
            .contains("was just changed with a reset link"),
        "{}",
        mail.text.expose()
    );
}

fn reader(tag: &str) -> Vars {
    let mut v = vars("Jan");
    v.user.locale = Some(crate::user::locale::parse(tag).expect("tag"));
    v.expires_in = Some(5 * 3600);
    v
}

#[test]
fn a_polish_reader_gets_polish_with_polish_plurals() {
    let mail = Templates::new(None)
        .render("password-change-link", &reader("pl"))
        .expect("render");
    assert_eq!(mail.subject, "Reset hasła do serwisu Example");
    let text = mail.text.expose();
    assert!(text.starts_with("Dzień dobry Jan,"), "{text}");
    assert!(
        text.contains("Wygaśnie za 5 godzin (2026-11-22 11:00 UTC)."),
        "{text}"
    );
    assert!(mail.html.expose().contains("<html lang=\"pl\">"));
}

#[test]
fn an_unknown_language_falls_back_along_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("password-change-link.pt.subject.txt"),
        "Redefina a sua senha {{ app_name }}",
    )
    .expect("write");
    let set = Templates::new(Some(dir.path()))
        .with_default_locale(crate::user::locale::parse("id").expect("tag"));
    let mail = set
        .render("password-change-link", &reader("pt-BR"))
        .expect("render");
    assert_eq!(mail.subject, "Redefina a sua senha Example", "pt-BR -> pt");
    assert!(
        mail.text.expose().starts_with("Halo Jan,"),
        "no pt text: the default, Indonesian: {}",
        mail.text.expose()
    );
    let mail = Templates::new(None)
        .render("password-change-link", &reader("de"))
        .expect("render");
    assert_eq!(mail.subject, "Reset your Example password", "then English");
    assert!(mail.text.expose().contains("expires in 5 hours"));
}

#[test]
fn a_broken_translation_is_named_with_its_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("access-info.pl.txt"),
        "Dzień dobry\n{{ user.nmae }}\n",
    )
    .expect("write");
    let set = Templates::new(Some(dir.path()));
    let problems = set.check(&vars("A"));
    assert_eq!(
        problems.len(),
        1,
        "once, though pl is in one chain: {problems:?}"
    );
    assert_eq!(problems[0].file, "access-info.pl.txt");
    assert!(
        problems[0].message.starts_with("line 2: "),
        "{}",
        problems[0].message
    );
    assert!(
        set.render("access-info", &vars("A")).is_ok(),
        "English is fine"
    );
}

#[test]
fn a_broken_layout_is_named_not_the_page_that_extends_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("page.id.html"), "<p>\n{{ nope }}</p>").expect("write");
    let problems = Templates::new(Some(dir.path())).check_pages();
    assert!(!problems.is_empty());
    assert!(
        problems
            .iter()
            .all(|p| p.file == "page.id.html" && p.message.starts_with("line 2: ")),
        "{problems:?}"
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Arbitrary names and notes never panic the built-in templates; the output grows at
        /// most linearly with them (HTML escaping is at most 6 bytes a character) and every
        /// error is one line.
        #[test]
        fn any_name_or_note_renders_boundedly(
            name in prop_oneof![any::<String>(), "[<>&\"'{}%#\\r\\n\\x1b]{0,300}"],
            note in proptest::option::of(any::<String>()),
        ) {
            let templates = Templates::new(None);
            let mut vars = vars(&name);
            vars.note.clone_from(&note);
            vars.password = Some("temporary".into());
            let input = name.len() + note.as_deref().map_or(0, str::len);
            for (template, _) in NAMES {
                match templates.render(template, &vars) {
                    Ok(mail) => {
                        prop_assert!(!mail.subject.contains(['\r', '\n']));
                        for part in [&mail.subject, mail.text.expose(), mail.html.expose()] {
                            prop_assert!(part.len() <= 16 * 1024 + 6 * 3 * input, "{} bytes", part.len());
                        }
                    }
                    Err(err) => prop_assert!(!err.to_string().contains('\n'), "{err}"),
                }
            }
        }
    }
}
