//! A sample of the customers' `search_text`, kept in memory, that tells a rare search term from
//! a common one before the database is asked (PostgreSQL staff search, [`super::search_by_buckets`]).
//!
//! The trigram index answers a rare term (a tax-id fragment, one customer's e-mail) fastest in
//! one look-up; a common one it answers slowly, every match read to keep a page. Without knowing
//! which, a search first walks the id order and then looks in one bucket of ids, and only a term
//! found in neither is looked up at once: for a rare term two statements spent to learn it is
//! rare, more than half of its database time (a tax-id fragment on a million customers: 0.31 ms
//! walking, 0.36 ms in the first bucket, 1.1 ms for the look-up itself). The planner cannot
//! tell them apart either: its estimate for `LIKE '%…%'` is the same for one match and for a
//! hundred thousand.
//!
//! So the search checks the term against [`SAMPLE_ROWS`] customers taken at random: a term
//! found in none of them is most likely rare (on a million customers, fewer than about 750
//! matches at 95 % confidence), and is looked up at once, the look-up capped
//! ([`super::RARE_MATCHES`]). A sample that was wrong costs that capped look-up, after which the
//! search goes on as it would have; it never changes a result. The sample is loaded in the
//! background on the first search and renewed when older than [`MAX_AGE`]; until it is there,
//! searches go the measured way.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use memchr::memmem;

use crate::{Db, Result, Sql};

/// Customers in a sample (about 600 kB of text; checking a term against all of it takes tens
/// of microseconds of the server's time).
pub const SAMPLE_ROWS: usize = 4_096;

/// How old a sample gets before the next search renews it in the background (also how long
/// a load that failed waits before the next try).
pub const MAX_AGE: Duration = Duration::from_secs(600);

/// The sampled `search_text` of some customers (see the module's documentation).
#[derive(Debug, Default)]
pub struct TermSample {
    /// The sampled texts, each followed by a NUL byte (which no PostgreSQL text contains, so no
    /// term matches across two of them).
    loaded: RwLock<Option<Arc<Sample>>>,
    /// When the sample was last replaced or a load of it started: one load at a time, and a load
    /// that fails is not tried again by every search.
    renewed: Mutex<Option<Instant>>,
}

impl TermSample {
    /// Whether `term` (lower case, as `search_text` is) occurs in a sampled customer's text;
    /// `None` while no sample is loaded. A term with a NUL byte in it counts as seen (the texts
    /// are separated by NUL bytes).
    pub fn seen(&self, term: &str) -> Option<bool> {
        self.hits(term, 1).map(|hits| hits > 0)
    }

    /// How many sampled customers' texts contain `term`, counted up to `max`; `None` while no
    /// sample is loaded. A term with a NUL byte in it counts as in every text.
    pub fn hits(&self, term: &str, max: usize) -> Option<usize> {
        self.scan(term, max).map(|(hits, _)| hits)
    }

    /// The share of the sampled customers whose text contains `term`, estimated from the texts
    /// read until `max` of them were found (exact when fewer are: then every text was read);
    /// `None` while no sample is loaded or it is empty.
    pub fn share(&self, term: &str, max: usize) -> Option<f64> {
        let (hits, read) = self.scan(term, max)?;
        (read > 0).then(|| hits as f64 / read as f64)
    }

    /// The texts holding `term`, counted up to `max`, and how many texts were read to find
    /// them (all of them when fewer than `max` hold it).
    fn scan(&self, term: &str, max: usize) -> Option<(usize, usize)> {
        let sample = self.current()?;
        let text = &sample.text;
        let term = term.as_bytes();
        if term.contains(&0) {
            return Some((max, max.min(sample.rows)));
        }
        let finder = memmem::Finder::new(term);
        let mut hits = 0;
        let mut read = 0;
        let mut from = 0;
        while hits < max {
            let Some(at) = finder.find(&text[from..]) else {
                return Some((hits, sample.rows));
            };
            hits += 1;
            // The texts passed over before this one, and this one.
            read += memchr::memchr_iter(0, &text[from..from + at]).count() + 1;
            // On from the next text: a text counts once.
            let end = from + at + term.len();
            from = match memchr::memchr(0, &text[end..]) {
                Some(nul) => end + nul + 1,
                None => text.len(),
            };
        }
        Some((hits, read))
    }

    /// Replaces the sample with these texts (the customers' `search_text`), now fresh.
    pub fn replace<S: AsRef<str>>(&self, texts: impl IntoIterator<Item = S>) {
        let mut text = Vec::new();
        let mut rows = 0;
        for t in texts {
            text.extend(t.as_ref().bytes().filter(|b| *b != 0));
            text.push(0);
            rows += 1;
        }
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) =
            Some(Arc::new(Sample { text, rows }));
        *self.renewed() = Some(Instant::now());
    }

    fn current(&self) -> Option<Arc<Sample>> {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn renewed(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.renewed.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn stale(&self) -> bool {
        due(*self.renewed())
    }

    /// Whether the caller is to load a new sample now: it is due, and no other caller has
    /// started a load within [`MAX_AGE`] (the start counts as the renewal until it is done).
    fn claim_renewal(&self) -> bool {
        let mut renewed = self.renewed();
        if !due(*renewed) {
            return false;
        }
        *renewed = Some(Instant::now());
        true
    }
}

/// The sampled texts, each followed by a NUL byte, and how many there are.
#[derive(Debug)]
struct Sample {
    text: Vec<u8>,
    rows: usize,
}

/// Whether a sample renewed (or tried) at `renewed` is due for renewal: never, or longer ago
/// than [`MAX_AGE`].
fn due(renewed: Option<Instant>) -> bool {
    renewed.is_none_or(|at| at.elapsed() > MAX_AGE)
}

/// Loads a new sample of `db`'s customers now (PostgreSQL; nothing to do on SQLite).
pub async fn refresh(db: &Db) -> Result<()> {
    let Some(sample) = db.term_sample() else {
        return Ok(());
    };
    // `TABLESAMPLE SYSTEM` reads the given share of the table's pages, chosen at random: a few
    // hundred pages for a million customers. Before the table's first `ANALYZE` its size is
    // unknown, and the first rows stand in.
    let estimate: Option<(f32,)> = db
        .fetch_optional(Sql::new(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass('customers')",
        ))
        .await?;
    let rows = f64::from(estimate.map_or(-1.0, |e| e.0));
    let percent = if rows > SAMPLE_ROWS as f64 {
        (100.0 * SAMPLE_ROWS as f64 / rows).max(0.000_1)
    } else {
        100.0
    };
    let texts: Vec<(Option<String>,)> = db
        .fetch_all(
            Sql::new(format!(
                "SELECT search_text FROM customers TABLESAMPLE SYSTEM ({percent:.6}) \
                 WHERE status <> 'deleted' LIMIT {}",
                2 * SAMPLE_ROWS
            ))
            .planned_per_call(),
        )
        .await?;
    sample.replace(texts.into_iter().filter_map(|t| t.0));
    Ok(())
}

/// Starts loading a new sample in the background when there is none or it is older than
/// [`MAX_AGE`], unless a load started within [`MAX_AGE`] (under way, or failed).
pub fn refresh_when_stale(db: &Db) {
    if !db.term_sample().is_some_and(TermSample::claim_renewal) {
        return;
    }
    let db = db.clone();
    tokio::spawn(async move {
        if let Err(e) = refresh(&db).await {
            tracing::warn!(error = %e, "could not sample the customers for search");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_term_is_seen_only_inside_one_sampled_text() {
        let sample = TermSample::default();
        assert_eq!(sample.seen("durian"), None, "nothing loaded yet");
        sample.replace([
            "ฟาร์มทุเรียน green valley 0105536000315",
            "owner@lotusdelta.co.th",
        ]);
        assert_eq!(sample.seen("ฟาร์ม"), Some(true));
        assert_eq!(sample.seen("valley 0105"), Some(true));
        assert_eq!(sample.seen("@lotusdelta"), Some(true));
        assert_eq!(sample.seen("9507919"), Some(false));
        assert_eq!(sample.hits("e", 10), Some(2), "each text counts once");
        assert_eq!(
            sample.hits("e", 1),
            Some(1),
            "counted up to the most asked for"
        );
        assert_eq!(
            sample.hits("lotusdelta.co.th", 10),
            Some(1),
            "the end of the last text"
        );
        // Not across the end of one text and the start of the next.
        assert_eq!(sample.seen("000315owner"), Some(false));
        assert_eq!(
            sample.seen("nothing\0here"),
            Some(true),
            "NUL: the usual way"
        );
        assert_eq!(
            sample.share("lotusdelta", 1),
            Some(0.5),
            "found in the 2nd of 2"
        );
        assert_eq!(sample.share("e", 1), Some(1.0), "found in the 1st read");
        assert_eq!(
            sample.share("9507919", 4),
            Some(0.0),
            "none: every text read"
        );
        sample.replace((0..100).map(|n| {
            if n % 4 == 3 {
                format!("green valley {n}")
            } else {
                format!("ฟาร์ม {n}")
            }
        }));
        assert_eq!(
            sample.share("green", 5),
            Some(0.25),
            "5 found in the first 20"
        );
        assert_eq!(sample.share("green", 100), Some(0.25), "all 25 of 100");
        assert!(!sample.stale());
        sample.replace(Vec::<String>::new());
        assert_eq!(
            sample.seen("ฟาร์ม"),
            Some(false),
            "an empty sample sees nothing"
        );
    }
}
