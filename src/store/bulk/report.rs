//! SQL for a bulk run's report: each item with its user's name and the link or temporary
//! password it produced (`bulk_items.token_id`, `temp_password_id`), one join streamed in
//! order, so a report of any size reads in flat memory.

use super::{ITEM_COLUMNS, Item, item_from};
use crate::store::sql::{Conn, DbError};
use crate::store::temp_passwords::{self, TempPasswordRow};
use crate::store::tokens::{self, TokenRow};
use crate::vals;

/// One item of a run and what it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Produced {
    /// The item.
    pub item: Item,
    /// Its user's name, if the entry named a user who still exists.
    pub username: Option<String>,
    /// The link recorded on the item, if one was (`None` for a temporary password, an item
    /// that produced nothing, or one finished before schema 6).
    pub token_id: Option<i64>,
    /// The temporary password recorded on the item, if one was.
    pub temp_password_id: Option<i64>,
    /// That link, unless `tokens purge` deleted it since.
    pub token: Option<TokenRow>,
    /// That temporary password.
    pub temp_password: Option<TempPasswordRow>,
}

/// Where the token's columns start in a row of [`each`].
const TOKEN_AT: usize = 11;

/// Every item of `run_id`, in order, each with what it produced, streamed from one query (a
/// cursor inside a transaction): one sort at most, however stale the table's statistics.
pub fn each<E: From<DbError>>(
    conn: &Conn,
    run_id: &str,
    mut f: impl FnMut(Produced) -> Result<(), E>,
) -> Result<(), E> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS}, u.username, i.token_id, i.temp_password_id, {}, {} \
         FROM bulk_items i LEFT JOIN users u ON u.id = i.user_id \
         LEFT JOIN reset_tokens t ON t.id = i.token_id \
         LEFT JOIN temp_passwords p ON p.id = i.temp_password_id \
         WHERE i.run_id = ?1 ORDER BY i.position",
        tokens::COLUMNS,
        temp_passwords::COLUMNS
    );
    conn.query_each(&sql, &vals![run_id], |row| {
        f(Produced {
            item: item_from(row)?,
            username: row.get(8)?,
            token_id: row.get(9)?,
            temp_password_id: row.get(10)?,
            token: tokens::joined_at(row, TOKEN_AT)?,
            temp_password: temp_passwords::joined_at(row, TOKEN_AT + tokens::COLUMN_COUNT)?,
        })
    })
}
