//! SQLite statements with anonymous `?` placeholders, for binding in linear time.
//!
//! Statements are written once with PostgreSQL's `$n`, which SQLite accepts too. But sqlx's
//! SQLite driver binds a named or numbered parameter by asking SQLite for its name, which SQLite
//! finds by a linear search of the statement's names: a statement of n `$n` parameters costs
//! time quadratic in n to bind, and the billing run writes statements of hundreds. Anonymous
//! parameters have no name to look up.

use crate::Sql;

impl Sql {
    /// The statement with anonymous `?` placeholders in place of `$n`, its arguments in the
    /// order the placeholders appear (repeated where a `$n` is). The text is left as it is when
    /// it holds anything but `$n` placeholders outside quotes and comments, or a number without
    /// its argument.
    pub(crate) fn into_anonymous(self) -> Sql {
        if self.args.is_empty() {
            return self;
        }
        let Some((text, order)) = anonymous_placeholders(&self.text, self.args.len()) else {
            return self;
        };
        let in_order =
            order.len() == self.args.len() && order.iter().enumerate().all(|(i, &n)| n == i);
        let args = if in_order {
            self.args
        } else {
            order.iter().map(|&n| self.args[n].clone()).collect()
        };
        Sql {
            text: text.into(),
            args,
            persistent: self.persistent,
        }
    }
}

/// `text` with every `$n` outside string literals, quoted identifiers and comments replaced by
/// `?`, and the argument index (`n − 1`) of each in order. `None` when the text holds another
/// kind of parameter (`?`, `:name`, `@name`), a `[`, or a number beyond `args`.
fn anonymous_placeholders(text: &str, args: usize) -> Option<(String, Vec<usize>)> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut order = Vec::new();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // Quoted text: skip to the closing quote (a doubled quote stays inside).
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == q {
                        if bytes.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            // `[identifier]` (SQLite) or an array subscript: not worth telling apart.
            b'[' => return None,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b'?' | b':' | b'@' => {
                let named = bytes
                    .get(i + 1)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
                if bytes[i] == b'?' || named {
                    return None;
                }
                i += 1;
            }
            b'$' => {
                let after_word =
                    i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if after_word {
                    i += 1;
                    continue;
                }
                if digits == 0 {
                    return None;
                }
                let n: usize = text[i + 1..i + 1 + digits].parse().ok()?;
                if n == 0 || n > args {
                    return None;
                }
                out.push_str(&text[copied..i]);
                out.push('?');
                order.push(n - 1);
                i += 1 + digits;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied.min(text.len())..]);
    Some((out, order))
}

#[cfg(test)]
mod tests {
    use crate::Arg;
    use crate::Sql;

    fn anonymous(text: &'static str, args: usize) -> (String, Vec<usize>) {
        let mut sql = Sql::new(text);
        for n in 0..args {
            sql = sql.bind(n as i64);
        }
        let sql = sql.into_anonymous();
        let order = sql
            .args
            .iter()
            .map(|a| match a {
                Arg::I64(Some(n)) => *n as usize,
                _ => unreachable!(),
            })
            .collect();
        (sql.text.into_owned(), order)
    }

    #[test]
    fn sqlite_statements_get_anonymous_placeholders_with_arguments_in_their_order() {
        assert_eq!(
            anonymous("INSERT INTO t VALUES ($1, $2), ($3, $4)", 4),
            (
                "INSERT INTO t VALUES (?, ?), (?, ?)".into(),
                vec![0, 1, 2, 3]
            )
        );
        // A repeated or reordered number repeats or reorders its argument.
        assert_eq!(
            anonymous("SELECT $2 + $1 WHERE x = $1 OR y = $10", 10),
            ("SELECT ? + ? WHERE x = ? OR y = ?".into(), vec![1, 0, 0, 9])
        );
        // Quotes and comments are left alone.
        assert_eq!(
            anonymous("SELECT '$1 it''s', \"a$2\" -- $3\n, /* $4 */ $2", 2),
            (
                "SELECT '$1 it''s', \"a$2\" -- $3\n, /* $4 */ ?".into(),
                vec![1]
            )
        );
    }

    #[test]
    fn statements_with_other_parameters_or_unknown_numbers_are_left_as_they_are() {
        for text in [
            "SELECT ? , $1",
            "SELECT :name, $1",
            "SELECT @p, $1",
            "SELECT $2",
            "SELECT $0",
            "SELECT $x",
            "SELECT [col] FROM t WHERE a = $1",
        ] {
            let (out, order) = anonymous(text, 1);
            assert_eq!(out, text);
            assert_eq!(order, vec![0]);
        }
    }
}
