//! The built-in profiles as data: for each application, the tables and columns pwreset reads,
//! the password column it writes, the login column, the hash format it writes with its
//! settings, and the SQL of "find by login", "list", the compare-and-swap write and the
//! clean-up that follows it. Statements are written once in SQLite's dialect with `?N`
//! parameters (the driver rewrites them for PostgreSQL); where the dialects differ, the
//! driver's helpers write them ([`Conn::limit_or_all`]).
//!
//! Every statement selects the same shape, which [`super::access`] reads:
//! `id, login, email, name, active, password`.

use crate::hashfmt::{DjangoSettings, Format, HashSettings};
use crate::store::sql::Conn;

/// Which built-in profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileName {
    /// Django's `django.contrib.auth` (`auth_user`).
    Django,
    /// Laravel's default `users` table (`email` is the login).
    Laravel,
    /// Odoo's `res_users`, with email and name from `res_partner`.
    Odoo,
}

impl ProfileName {
    /// Every built-in profile.
    pub const ALL: [ProfileName; 3] =
        [ProfileName::Django, ProfileName::Laravel, ProfileName::Odoo];

    /// The name the configuration will give it (`users.source`).
    pub fn name(self) -> &'static str {
        match self {
            ProfileName::Django => "django",
            ProfileName::Laravel => "laravel",
            ProfileName::Odoo => "odoo",
        }
    }
}

impl std::fmt::Display for ProfileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A table pwreset uses and the columns it needs there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableUse {
    /// The table's name.
    pub table: &'static str,
    /// The columns read (SELECT needed on each).
    pub read: &'static [&'static str],
    /// The columns written (UPDATE needed on each).
    pub written: &'static [&'static str],
    /// Whether rows are deleted from it (DELETE needed).
    pub deletes: bool,
}

/// One built-in profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Which one.
    pub name: ProfileName,
    /// Every table pwreset reads or writes, the users' table first.
    pub tables: &'static [TableUse],
    /// The users' table.
    pub users_table: &'static str,
    /// The column holding the password hash (in [`Profile::users_table`]).
    pub password_column: &'static str,
    /// The column(s) a login is looked up in (in [`Profile::users_table`]).
    pub login_columns: &'static [&'static str],
    /// The hash format written, with the application's default settings.
    pub hash: HashSettings,
}

/// Django's `auth_user`, as `django.contrib.auth`'s migrations make it.
const DJANGO_TABLES: &[TableUse] = &[TableUse {
    table: "auth_user",
    read: &[
        "id",
        "username",
        "email",
        "first_name",
        "last_name",
        "is_active",
        "password",
    ],
    written: &["password"],
    deletes: false,
}];

/// Laravel's `users` and `password_reset_tokens` (`0001_01_01_000000_create_users_table.php`).
const LARAVEL_TABLES: &[TableUse] = &[
    TableUse {
        table: "users",
        read: &["id", "email", "name", "password"],
        written: &["password"],
        deletes: false,
    },
    TableUse {
        table: "password_reset_tokens",
        read: &["email"],
        written: &[],
        deletes: true,
    },
];

/// Odoo's `res_users` and `res_partner` (the signup columns are `auth_signup`'s).
const ODOO_TABLES: &[TableUse] = &[
    TableUse {
        table: "res_users",
        read: &["id", "login", "active", "partner_id", "password"],
        written: &["password"],
        deletes: false,
    },
    TableUse {
        table: "res_partner",
        read: &["id", "email", "name"],
        written: &["signup_token", "signup_type", "signup_expiration"],
        deletes: false,
    },
];

impl Profile {
    /// The built-in profile `name`, with the application's default hash settings.
    pub fn builtin(name: ProfileName) -> Profile {
        match name {
            ProfileName::Django => Profile {
                name,
                tables: DJANGO_TABLES,
                users_table: "auth_user",
                password_column: "password",
                login_columns: &["username"],
                hash: HashSettings::Pbkdf2Sha256Django(DjangoSettings::default()),
            },
            ProfileName::Laravel => Profile {
                name,
                tables: LARAVEL_TABLES,
                users_table: "users",
                password_column: "password",
                login_columns: &["email"],
                hash: HashSettings::default_for(Format::Bcrypt),
            },
            ProfileName::Odoo => Profile {
                name,
                tables: ODOO_TABLES,
                users_table: "res_users",
                password_column: "password",
                login_columns: &["login"],
                hash: HashSettings::default_for(Format::Pbkdf2Sha512Passlib),
            },
        }
    }

    /// The same profile writing with `hash` (the site's own settings); it must be in the
    /// profile's format.
    pub fn with_hash(self, hash: HashSettings) -> Option<Profile> {
        (hash.format() == self.hash.format()).then_some(Profile { hash, ..self })
    }

    /// The format the profile writes.
    pub fn format(&self) -> Format {
        self.hash.format()
    }

    /// `SELECT id, login, email, name, active, password FROM ...`, without a `WHERE`.
    fn select(&self) -> &'static str {
        match self.name {
            ProfileName::Django => {
                "SELECT id, username, email, trim(first_name || ' ' || last_name), is_active, \
                 password FROM auth_user"
            }
            // Laravel's default table has no "active" flag: every user is active.
            ProfileName::Laravel => "SELECT id, email, email, name, 1, password FROM users",
            ProfileName::Odoo => {
                "SELECT u.id, u.login, p.email, p.name, u.active, u.password \
                 FROM res_users u JOIN res_partner p ON p.id = u.partner_id"
            }
        }
    }

    /// The users' key column as the select names it.
    fn id_column(&self) -> &'static str {
        match self.name {
            ProfileName::Odoo => "u.id",
            ProfileName::Django | ProfileName::Laravel => "id",
        }
    }

    /// Find one user: `?1` the login, compared exactly (as the applications do).
    pub fn find_by_login_sql(&self) -> String {
        let login = match self.name {
            ProfileName::Odoo => "u.login",
            ProfileName::Django => "username",
            ProfileName::Laravel => "email",
        };
        format!("{} WHERE {login} = ?1", self.select())
    }

    /// A page of users in key order: `?1` the last key seen (or NULL for the first page),
    /// `?2` the page size (NULL: all).
    pub fn list_sql(&self, conn: &Conn) -> String {
        let id = self.id_column();
        format!(
            "{} WHERE CAST(?1 AS BIGINT) IS NULL OR {id} > CAST(?1 AS BIGINT) ORDER BY {id} {}",
            self.select(),
            conn.limit_or_all("?2")
        )
    }

    /// The compare-and-swap write: `?1` the new hash, `?2` the key, `?3` the hash read. It
    /// changes one row, or none when the hash changed meanwhile (SRC-1).
    pub fn write_sql(&self) -> String {
        format!(
            "UPDATE {} SET {} = ?1 WHERE id = ?2 AND {} = ?3",
            self.users_table, self.password_column, self.password_column
        )
    }

    /// What follows a write in the same transaction, `?1` the user's key: the application's own
    /// reset tokens, which do not die with the hash (Laravel), or the partner's signup token
    /// (Odoo).
    pub fn after_write_sql(&self) -> Option<&'static str> {
        match self.name {
            ProfileName::Django => None,
            ProfileName::Laravel => Some(
                "DELETE FROM password_reset_tokens \
                 WHERE email = (SELECT email FROM users WHERE id = ?1)",
            ),
            ProfileName::Odoo => Some(
                "UPDATE res_partner \
                 SET signup_token = NULL, signup_type = NULL, signup_expiration = NULL \
                 WHERE id = (SELECT partner_id FROM res_users WHERE id = ?1)",
            ),
        }
    }
}
