//! Languages: a user's `locale` (`users add --locale`, the `locale` column of `users import`),
//! `mail.default_locale`, mails in the recipient's language over real SMTP, and the templates
//! commands per locale.

use crate::support::{TestEnv, assert_fails, json, stderr};

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
