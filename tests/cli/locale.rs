//! Languages: a user's `locale` (`users add --locale`, the `locale` column of `users import`),
//! `mail.default_locale`, mails in the recipient's language over real SMTP, and the templates
//! commands per locale.

use crate::smtp_server::SmtpServer;
use crate::support::{TestEnv, assert_fails, html_part, json, stderr, text_part};

#[test]
fn add_stores_the_canonical_tag_and_refuses_a_bad_one() {
    let env = TestEnv::with_samples();
    env.ok(&["users", "add", "joao@example.com", "--locale", "pt-br"]);
    let joao = json(&env.ok(&["users", "show", "joao", "--format", "json"]));
    assert_eq!(joao["locale"], "pt-BR");
    let alice = json(&env.ok(&["users", "show", "alice", "--format", "json"]));
    assert_eq!(alice["locale"], serde_json::Value::Null);
    let listed = json(&env.ok(&["users", "list", "--format", "json"]));
    assert_eq!(listed[4]["locale"], "pt-BR");
    let out = env.run(&["users", "add", "x@example.com", "--locale", "pt_BR"]);
    assert_fails(&out, 2, "locale \"pt_BR\" is not a language tag");
    assert!(stderr(&out).contains("separate its parts with '-'"));
    assert_eq!(
        stderr(&out)
            .lines()
            .filter(|l| l.starts_with("error"))
            .count(),
        1
    );
    assert_fails(
        &env.run(&["users", "add", "x@example.com", "--locale", "polish"]),
        2,
        "2 or 3 letters",
    );
    assert_eq!(env.count("SELECT count(*) FROM users"), 5, "nothing added");
}

#[test]
fn import_reads_a_locale_column() {
    let env = TestEnv::initialised();
    env.write(
        "staff.csv",
        "email,name,locale\njan@example.com,Jan,PL\nsiti@example.com,Siti,id\nann@example.com,Ann,\nbad@example.com,Bad,en_GB\n",
    );
    let out = env.run(&["users", "import", "staff.csv"]);
    assert_fails(
        &out,
        3,
        "staff.csv:5: locale \"en_GB\" is not a language tag",
    );
    let locale =
        |name: &str| json(&env.ok(&["users", "show", name, "--format", "json"]))["locale"].clone();
    assert_eq!(locale("jan"), "pl");
    assert_eq!(locale("siti"), "id");
    assert_eq!(locale("ann"), serde_json::Value::Null);
    assert_eq!(env.count("SELECT count(*) FROM users"), 3);
}

/// Point `env` at `server` over plain SMTP, with `mail_extra` lines in `[mail]` and templates
/// read from `tpl/`.
fn configure(env: &TestEnv, server: &SmtpServer, mail_extra: &str) {
    let text = format!(
        "{}\n[mail]\ntransport = \"smtp\"\nfrom = \"Example <no-reply@example.com>\"\n{mail_extra}\n\
         [mail.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\n\
         [links]\nbase_url = \"https://app.example.com/reset\"\n\n\
         [templates]\napp_name = \"Example App\"\ndir = \"tpl\"\n",
        env.store_config(),
        server.port()
    );
    env.write("pwreset.toml", &text);
    std::fs::create_dir_all(env.path("tpl")).expect("mkdir");
}

/// Send a link to `user`; the decoded subject, text part and HTML part of the mail.
fn link_mail(env: &TestEnv, server: &SmtpServer, user: &str) -> (String, String, String) {
    env.ok(&["send-link", user]);
    let message = server.messages().pop().expect("a message arrived");
    let parsed = mailparse::parse_mail(&message.data).expect("MIME");
    let subject = mailparse::MailHeaderMap::get_first_value(parsed.headers.as_slice(), "Subject");
    let subject = subject.expect("subject");
    (subject, text_part(&message.data), html_part(&message.data))
}

#[test]
fn a_polish_user_gets_the_polish_mail_over_smtp() {
    let server = SmtpServer::start();
    let env = TestEnv::with_samples();
    configure(&env, &server, "");
    env.ok(&[
        "users",
        "add",
        "jan@example.com",
        "--name",
        "Jan Kowalski",
        "--locale",
        "pl",
    ]);
    let (subject, text, html) = link_mail(&env, &server, "jan");
    assert_eq!(subject, "Reset hasła do serwisu Example App");
    assert!(text.starts_with("Dzień dobry Jan Kowalski,"), "{text}");
    assert!(
        text.contains("Link działa tylko raz. Wygaśnie za 1 godzinę (2026-11-22 11:00 UTC)."),
        "{text}"
    );
    assert!(html.contains("<html lang=\"pl\">"), "{html}");
    let (subject, text, _) = link_mail(&env, &server, "alice");
    assert_eq!(
        subject, "Reset your Example App password",
        "alice has no locale"
    );
    assert!(text.contains("It expires in 1 hour"), "{text}");
}

#[test]
fn an_unknown_or_absent_locale_falls_back_to_the_language_then_the_default() {
    let server = SmtpServer::start();
    let env = TestEnv::with_samples();
    configure(&env, &server, "default_locale = \"id\"");
    env.write(
        "tpl/password-change-link.pt.subject.txt",
        "Redefina a sua senha do {{ app_name }}",
    );
    env.ok(&["users", "add", "joao@example.com", "--locale", "pt-BR"]);
    let (subject, text, _) = link_mail(&env, &server, "joao");
    assert_eq!(
        subject, "Redefina a sua senha do Example App",
        "pt-BR -> pt"
    );
    assert!(
        text.starts_with("Halo joao,"),
        "no pt text part: the default: {text}"
    );
    assert!(text.contains("kedaluwarsa dalam 1 jam"), "{text}");
    let (subject, _, _) = link_mail(&env, &server, "alice");
    assert_eq!(
        subject, "Atur ulang kata sandi Example App Anda",
        "no locale: the default"
    );
}

#[test]
fn check_names_a_broken_polish_override_with_its_file_and_line() {
    let server = SmtpServer::start();
    let env = TestEnv::with_samples();
    configure(&env, &server, "");
    env.write(
        "tpl/password-change-link.pl.txt",
        "Dzień dobry {{ user.name }},\n{{ user.nazwa }}\n",
    );
    let out = env.run(&["templates", "check"]);
    assert_fails(&out, 8, "password-change-link.pl.txt: line 2: ");
    let err = stderr(&out);
    assert!(err.contains("tpl/password-change-link.pl.txt"), "{err}");
    assert_eq!(
        err.matches("password-change-link.pl.txt").count(),
        1,
        "once: {err}"
    );
    env.ok(&[
        "templates",
        "preview",
        "password-change-link",
        "--locale",
        "id",
    ]);
    assert!(server.messages().is_empty(), "a check sends nothing");
}

#[test]
fn list_shows_each_templates_languages_and_preview_takes_one() {
    let server = SmtpServer::start();
    let env = TestEnv::with_samples();
    configure(&env, &server, "");
    env.write("tpl/access-info.pl.subject.txt", "Hasło do {{ app_name }}");
    env.write(
        "tpl/access-info.de.subject.txt",
        "Ihr Passwort für {{ app_name }}",
    );
    let rows = json(&env.ok(&["templates", "list", "--format", "json"]));
    let rows = rows.as_array().expect("array");
    let of = |file: &str| -> Vec<(String, String)> {
        let (stem, rest) = file.split_once('.').expect("a part");
        rows.iter()
            .filter_map(|r| {
                let locale = r["locale"].as_str().expect("locale");
                let part = r["part"].as_str().expect("part");
                let ours = part == file || part == format!("{stem}.{locale}.{rest}");
                let source = r["source"].as_str().expect("source");
                let source = if source == "built-in" { source } else { "tpl" };
                ours.then(|| (locale.to_string(), source.to_string()))
            })
            .collect()
    };
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
            .collect()
    };
    assert_eq!(
        of("access-info.subject.txt"),
        pairs(&[
            ("de", "tpl"),
            ("en", "built-in"),
            ("id", "built-in"),
            ("pl", "tpl")
        ])
    );
    assert_eq!(
        of("access-info.txt"),
        pairs(&[("en", "built-in"), ("id", "built-in"), ("pl", "built-in")])
    );
    let preview = env.ok(&["templates", "preview", "access-info", "--locale", "pl"]);
    assert!(
        preview.starts_with("Subject: Hasło do Example App\n"),
        "{preview}"
    );
    assert!(preview.contains("Nazwa użytkownika: alice"), "{preview}");
    let preview = env.ok(&["templates", "preview", "access-info", "--locale", "de-AT"]);
    assert!(
        preview.starts_with("Subject: Ihr Passwort für Example App\n"),
        "{preview}"
    );
    assert!(
        preview.contains("User name: alice"),
        "no German body: English"
    );
    assert_fails(
        &env.run(&["templates", "preview", "access-info", "--locale", "de_AT"]),
        2,
        "--locale: \"de_AT\" is not a language tag",
    );
}
