//! Statements over many rows at once, so that a batch of users costs one statement rather than
//! one each: [`list`] writes the placeholders of an `IN (...)` list, [`rows`] those of a
//! multi-row `VALUES` (each parameter cast to its column's type, which PostgreSQL cannot infer
//! inside a `VALUES` that is not an INSERT's), and [`Many`] collects the parameters in order.
//! The SQL is the same in both dialects: a `VALUES` list names its columns `column1`,
//! `column2`, ... in SQLite and in PostgreSQL.

use super::{ToValue, Value};

/// The type a `VALUES` column is cast to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// `BIGINT` (integers, Unix times, ids).
    Int,
    /// `TEXT`.
    Text,
}

/// `?from, ?from+1, ...`: `n` placeholders for an `IN (...)` list (`NULL` when `n` is 0, so
/// that the list is still valid SQL and matches nothing).
pub fn list(from: usize, n: usize) -> String {
    if n == 0 {
        return "NULL".into();
    }
    (from..from + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(CAST(?from AS BIGINT), CAST(?from+1 AS TEXT)), (...)`: `n` rows of `cols`, numbered from
/// `from`, for `FROM (VALUES ...) AS v` (read as `v.column1`, `v.column2`, ...).
pub fn rows(from: usize, n: usize, cols: &[Col]) -> String {
    let mut next = from;
    let row = |next: &mut usize| {
        let cells: Vec<String> = cols
            .iter()
            .map(|col| {
                let cell = match col {
                    Col::Int => format!("CAST(?{next} AS BIGINT)"),
                    Col::Text => format!("CAST(?{next} AS TEXT)"),
                };
                *next += 1;
                cell
            })
            .collect();
        format!("({})", cells.join(", "))
    };
    (0..n)
        .map(|_| row(&mut next))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Integers as parameters, e.g. the ids of an `IN (...)` list.
pub fn ints(ids: &[i64]) -> Vec<&dyn ToValue> {
    ids.iter().map(|id| id as &dyn ToValue).collect()
}

/// Parameters collected in order, for a statement over many rows.
#[derive(Debug, Default)]
pub struct Many {
    values: Vec<Value>,
}

impl Many {
    /// No parameters yet.
    pub fn new() -> Self {
        Many::default()
    }

    /// The number of the next parameter (`?N`).
    pub fn next(&self) -> usize {
        self.values.len() + 1
    }

    /// Add an integer.
    pub fn int(&mut self, n: impl Into<Option<i64>>) -> &mut Self {
        self.values.push(n.into().map_or(Value::Null, Value::Int));
        self
    }

    /// Add these integers; their placeholders for an `IN (...)` list (see [`list`]).
    pub fn int_list(&mut self, ints: &[i64]) -> String {
        let placeholders = list(self.next(), ints.len());
        for n in ints {
            self.int(*n);
        }
        placeholders
    }

    /// Add these texts; their placeholders for an `IN (...)` list (see [`list`]).
    pub fn text_list(&mut self, texts: &[&str]) -> String {
        let placeholders = list(self.next(), texts.len());
        for text in texts {
            self.text(*text);
        }
        placeholders
    }

    /// Add a text (or NULL).
    pub fn text<'t>(&mut self, text: impl Into<Option<&'t str>>) -> &mut Self {
        let value = text
            .into()
            .map_or(Value::Null, |t| Value::Text(t.to_string()));
        self.values.push(value);
        self
    }

    /// The parameters, to pass to a statement.
    pub fn params(&self) -> Vec<&dyn ToValue> {
        self.values.iter().map(|v| v as &dyn ToValue).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::ValueRef;
    use super::*;

    #[test]
    fn a_list_numbers_its_placeholders_and_an_empty_one_matches_nothing() {
        assert_eq!(list(3, 3), "?3, ?4, ?5");
        assert_eq!(list(1, 0), "NULL");
    }

    #[test]
    fn rows_cast_each_cell_and_number_on() {
        assert_eq!(
            rows(2, 2, &[Col::Int, Col::Text]),
            "(CAST(?2 AS BIGINT), CAST(?3 AS TEXT)), (CAST(?4 AS BIGINT), CAST(?5 AS TEXT))"
        );
    }

    #[test]
    fn lists_number_their_placeholders_after_the_parameters_before_them() {
        let mut many = Many::new();
        many.int(1);
        assert_eq!(many.int_list(&[7, 8]), "?2, ?3");
        assert_eq!(many.text_list(&["a"]), "?4");
        assert_eq!(many.text_list(&[]), "NULL");
        assert_eq!(many.next(), 5);
    }

    #[test]
    fn parameters_keep_their_order_and_nulls() {
        let mut many = Many::new();
        many.int(5).text("a").int(None).text(None);
        assert_eq!(many.next(), 5);
        let params = many.params();
        let values: Vec<_> = params
            .iter()
            .map(|p| p.to_value().expect("a value"))
            .collect();
        assert_eq!(
            values,
            [
                ValueRef::Int(5),
                ValueRef::Text("a"),
                ValueRef::Null,
                ValueRef::Null
            ]
        );
    }
}
