//! SQL assembled from text of our own and values that are always bound, never pasted.
//!
//! The clickhouse crate's `query()` reads every `?` of the SQL text as a placeholder and
//! substitutes each bound value as one escaped literal, after the text has been split at its
//! placeholders: a value holding `?`, `??`, quotes, backslashes, `{}` or NUL stays one literal.
//! [`Sql`] keeps the text and the values side by side so that a query built from pieces (a
//! report's conditions, a list of ids) binds each value at its own `?`. Crate-private: the
//! text is store's, the values come in through typed functions.

use crate::{Result, Store};

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Str(String),
    I64(i64),
    U64(u64),
}

/// SQL text with a `?` per bound value, and the values in the order of their `?`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        let mut s = Sql::default();
        s.push(text);
        s
    }

    /// Appends text of our own (never a caller's value: bind those).
    pub fn push(&mut self, text: &str) -> &mut Sql {
        // A `?` here would be read as a placeholder with nothing bound to it.
        debug_assert!(!text.contains('?'), "SQL text with a `?`: {text}");
        self.text.push_str(text);
        self
    }

    /// Appends `?` bound to a string.
    pub fn str(&mut self, v: &str) -> &mut Sql {
        self.text.push('?');
        self.args.push(Arg::Str(v.to_string()));
        self
    }

    /// Appends `?` bound to a signed number.
    pub fn i64(&mut self, v: i64) -> &mut Sql {
        self.text.push('?');
        self.args.push(Arg::I64(v));
        self
    }

    /// Appends `?` bound to an unsigned number.
    pub fn u64(&mut self, v: u64) -> &mut Sql {
        self.text.push('?');
        self.args.push(Arg::U64(v));
        self
    }

    /// Appends `toDateTime(?)` of Unix seconds.
    pub fn time(&mut self, secs: i64) -> &mut Sql {
        self.push("toDateTime(").i64(secs).push(")")
    }

    /// Appends `toUUID(?)`.
    pub fn uuid(&mut self, id: &uuid::Uuid) -> &mut Sql {
        self.push("toUUID(").str(&id.to_string()).push(")")
    }

    /// Appends `col IN (?, ?, …)`, or `0` (nothing matches) for no values.
    pub fn in_strs<S: AsRef<str>>(&mut self, col: &str, vals: &[S]) -> &mut Sql {
        if vals.is_empty() {
            return self.push("0");
        }
        self.push(col).push(" IN (");
        for (i, v) in vals.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.str(v.as_ref());
        }
        self.push(")")
    }

    /// Appends `col IN (toUUID(?), …)`, or `0` for no ids.
    pub fn in_uuids(&mut self, col: &str, ids: &[uuid::Uuid]) -> &mut Sql {
        if ids.is_empty() {
            return self.push("0");
        }
        self.push(col).push(" IN (");
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.uuid(id);
        }
        self.push(")")
    }

    /// Appends another piece, its values after ours.
    pub fn append(&mut self, other: &Sql) -> &mut Sql {
        self.text.push_str(&other.text);
        self.args.extend(other.args.iter().cloned());
        self
    }

    /// The text with its placeholders (what errors and logs show: no values).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The crate's query with every value bound.
    pub fn query(&self, client: &clickhouse::Client) -> clickhouse::query::Query {
        let mut q = client.query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::Str(s) => q.bind(s.as_str()),
                Arg::I64(n) => q.bind(*n),
                Arg::U64(n) => q.bind(*n),
            };
        }
        q
    }

    pub async fn fetch_all<T>(&self, store: &Store) -> Result<Vec<T>>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        tracing::debug!(sql = self.text, "query");
        self.query(&store.client)
            .fetch_all::<T>()
            .await
            .map_err(|e| store.err(&self.text, e))
    }

    pub async fn fetch_optional<T>(&self, store: &Store) -> Result<Option<T>>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        self.query(&store.client)
            .fetch_optional::<T>()
            .await
            .map_err(|e| store.err(&self.text, e))
    }

    /// The SQL as the server receives it, values substituted (for tests).
    #[cfg(test)]
    pub fn rendered(&self) -> String {
        self.query(&clickhouse::Client::default())
            .sql_display()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_bound_where_their_placeholder_is() {
        let mut s = Sql::new("SELECT 1 FROM t WHERE ");
        s.push("a = ").str("x?y").push(" AND b = ").i64(-3);
        s.push(" AND ").in_strs("c", &["??", "'", "\\", "{}"]);
        s.push(" AND ").in_strs::<&str>("d", &[]);
        assert_eq!(
            s.text(),
            "SELECT 1 FROM t WHERE a = ? AND b = ? AND c IN (?, ?, ?, ?) AND 0"
        );
        assert_eq!(
            s.rendered(),
            r"SELECT 1 FROM t WHERE a = 'x?y' AND b = -3 AND c IN ('??', '\'', '\\', '{}') AND 0"
        );
    }

    #[test]
    fn appended_pieces_keep_their_values_in_order() {
        let mut a = Sql::new("x = ");
        a.str("1");
        let mut b = Sql::new("y = ");
        b.u64(2);
        let mut s = Sql::new("WHERE ");
        s.append(&a).push(" AND ").append(&b);
        assert_eq!(s.rendered(), "WHERE x = '1' AND y = 2");
    }
}
