//! SQL for a bulk run's report: each item with its user's name and the link or temporary
//! password it produced (`bulk_items.token_id`, `temp_password_id`), one join a page at a
//! time, so a report of any size reads in the memory of one page.

use super::{ITEM_COLUMNS, Item, item_from};
use crate::store::db::{Conn, DbError};
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

/// Where the token's columns start in a row of [`page`].
const TOKEN_AT: usize = 11;

/// Items of `run_id` after position `after`, at most `limit`, in order, each with what it
/// produced.
pub fn page(conn: &Conn, run_id: &str, after: i64, limit: i64) -> Result<Vec<Produced>, DbError> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS}, u.username, i.token_id, i.temp_password_id, {}, {} \
         FROM bulk_items i LEFT JOIN users u ON u.id = i.user_id \
         LEFT JOIN reset_tokens t ON t.id = i.token_id \
         LEFT JOIN temp_passwords p ON p.id = i.temp_password_id \
         WHERE i.run_id = ?1 AND i.position > ?2 ORDER BY i.position LIMIT ?3",
        tokens::COLUMNS,
        temp_passwords::COLUMNS
    );
    conn.query_vec(&sql, &vals![run_id, after, limit], |row| {
        Ok(Produced {
            item: item_from(row)?,
            username: row.get(8)?,
            token_id: row.get(9)?,
            temp_password_id: row.get(10)?,
            token: tokens::joined_at(row, TOKEN_AT)?,
            temp_password: temp_passwords::joined_at(row, TOKEN_AT + tokens::COLUMN_COUNT)?,
        })
    })
}
