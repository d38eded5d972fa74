//! Unit tests of the users table: LIKE patterns, joined columns, listings on both backends.

use super::*;

#[test]
fn like_pattern_escapes_wildcards() {
    assert_eq!(like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
}

/// Two users, one with everything a listing shows set; the listing's narrow rows must
/// say what the full rows say, in the same order, filters applied alike.
fn listed_rows_match_full_rows(store: &crate::store::Store) {
    let conn = store.conn();
    let alice = NewUser {
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        display_name: Some("Alice A".into()),
        active: true,
        locale: Some("pl".into()),
    };
    let bob = NewUser {
        username: "bob".into(),
        email: None,
        display_name: None,
        active: false,
        locale: None,
    };
    insert(conn, &alice, 1_700_000_000).expect("alice");
    insert(conn, &bob, 1_700_000_000).expect("bob");
    for filter in [
        Filter::default(),
        Filter {
            status: Status::Inactive,
            ..Filter::default()
        },
        Filter {
            search: Some("ALICE".into()),
            ..Filter::default()
        },
    ] {
        let mut full = Vec::new();
        for_each(conn, &filter, |u| {
            full.push(Listed {
                id: u.id,
                username: u.username,
                email: u.email,
                display_name: u.display_name,
                active: u.active,
                must_change_password: u.must_change_password,
                password_changed_at: u.password_changed_at,
                locale: u.locale,
            });
            Ok::<_, DbError>(())
        })
        .expect("full");
        let mut listed = Vec::new();
        for_each_listed(conn, &filter, |u| {
            listed.push(u);
            Ok::<_, DbError>(())
        })
        .expect("listed");
        assert_eq!(listed, full, "{filter:?}");
        assert!(!listed.is_empty(), "{filter:?}");
    }
}

#[test]
fn a_listing_reads_the_same_users_with_fewer_columns_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::store::Store::create(&dir.path().join("s.db"), 1000).expect("store");
    listed_rows_match_full_rows(&store);
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn a_listing_reads_the_same_users_with_fewer_columns_on_postgres() {
    let Some(db) = crate::store::sql::postgres::scratch::Scratch::new() else {
        return;
    };
    let store = crate::store::Store::open_pg(&db.target, Some(db.password()), 1000).expect("open");
    listed_rows_match_full_rows(&store);
}

#[test]
fn joined_columns_qualify_every_column() {
    let columns = joined_columns("u");
    assert!(columns.starts_with("u.id, u.username, "), "{columns}");
    assert!(
        columns.contains(", u.password_hash IS NOT NULL, "),
        "{columns}"
    );
    assert_eq!(columns.matches("u.").count(), COLUMNS.split(", ").count());
}
