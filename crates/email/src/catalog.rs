//! The message catalogues: one Fluent file per locale (`locales/th.ftl`, `locales/en.ftl`),
//! compiled into the binary. The code picks message keys and passes already formatted values
//! (amounts, dates); every visible word comes from the catalogue.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

const TH: &str = include_str!("../locales/th.ftl");
const EN: &str = include_str!("../locales/en.ftl");

/// The languages mail is written in. A customer's `locale` other than `en` reads Thai, the
/// product's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    Th,
    En,
}

impl Locale {
    pub fn from_tag(tag: &str) -> Locale {
        match tag.split(['-', '_']).next() {
            Some(primary) if primary.eq_ignore_ascii_case("en") => Locale::En,
            _ => Locale::Th,
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Locale::Th => "th",
            Locale::En => "en",
        }
    }
}

/// Both catalogues, parsed once.
pub struct Catalog {
    th: FluentBundle<FluentResource>,
    en: FluentBundle<FluentResource>,
}

/// A catalogue that does not parse, or a message the code asks for that it lacks: a bug caught
/// by the unit tests, never a customer's problem.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("the {locale} catalogue does not parse: {detail}")]
    Parse {
        locale: &'static str,
        detail: String,
    },
    #[error("the {locale} catalogue has no message {key}")]
    Missing { locale: &'static str, key: String },
    #[error("the {locale} message {key} did not format: {detail}")]
    Format {
        locale: &'static str,
        key: String,
        detail: String,
    },
}

fn bundle(locale: Locale, source: &str) -> Result<FluentBundle<FluentResource>, CatalogError> {
    let parse_error = |detail: String| CatalogError::Parse {
        locale: locale.tag(),
        detail,
    };
    let resource = FluentResource::try_new(source.to_owned())
        .map_err(|(_, errors)| parse_error(format!("{errors:?}")))?;
    let lang: LanguageIdentifier = locale
        .tag()
        .parse()
        .map_err(|e| parse_error(format!("{e}")))?;
    let mut bundle = FluentBundle::new_concurrent(vec![lang]);
    // Plain text mail: no Unicode isolation marks around placeables.
    bundle.set_use_isolating(false);
    bundle
        .add_resource(resource)
        .map_err(|errors| parse_error(format!("{errors:?}")))?;
    Ok(bundle)
}

/// Named values for a message: text, or a number (for plural selection).
#[derive(Default)]
pub struct Args(FluentArgs<'static>);

impl Args {
    pub fn new() -> Args {
        Args::default()
    }

    pub fn text(mut self, name: &'static str, value: impl Into<String>) -> Args {
        self.0.set(name, FluentValue::from(value.into()));
        self
    }

    pub fn number(mut self, name: &'static str, value: i64) -> Args {
        self.0.set(name, FluentValue::from(value));
        self
    }
}

impl Catalog {
    pub fn load() -> Result<Catalog, CatalogError> {
        Ok(Catalog {
            th: bundle(Locale::Th, TH)?,
            en: bundle(Locale::En, EN)?,
        })
    }

    /// The message `key` in `locale`, with `args` filled in.
    pub fn text(&self, locale: Locale, key: &str, args: &Args) -> Result<String, CatalogError> {
        let bundle = match locale {
            Locale::Th => &self.th,
            Locale::En => &self.en,
        };
        let pattern = bundle
            .get_message(key)
            .and_then(|m| m.value())
            .ok_or_else(|| CatalogError::Missing {
                locale: locale.tag(),
                key: key.to_owned(),
            })?;
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&args.0), &mut errors);
        if let Some(e) = errors.first() {
            return Err(CatalogError::Format {
                locale: locale.tag(),
                key: key.to_owned(),
                detail: format!("{e:?}"),
            });
        }
        Ok(text.into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogues_parse_and_hold_the_same_keys() {
        let catalog = Catalog::load().expect("catalogues parse");
        let keys = |source: &str| -> Vec<String> {
            source
                .lines()
                .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
                .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_owned()))
                .collect()
        };
        assert_eq!(
            keys(TH),
            keys(EN),
            "th.ftl and en.ftl define the same messages"
        );
        assert!(keys(TH).len() > 10);
        let args = Args::new()
            .text("customer", "ไร่ทดสอบ")
            .text("seller", "Satang")
            .text("number", "INV-2026-000001");
        assert_eq!(
            catalog.text(Locale::Th, "greeting", &args).unwrap(),
            "เรียน ไร่ทดสอบ"
        );
        assert_eq!(
            catalog
                .text(Locale::En, "invoice-issued-subject", &args)
                .unwrap(),
            "Invoice INV-2026-000001 from Satang"
        );
        assert!(matches!(
            catalog.text(Locale::En, "no-such-message", &args),
            Err(CatalogError::Missing { .. })
        ));
        // A missing argument is an error, not a silent "{$number}" in a customer's inbox.
        assert!(
            catalog
                .text(Locale::En, "invoice-issued-subject", &Args::new())
                .is_err()
        );
    }

    #[test]
    fn locales_fall_back_to_thai() {
        assert_eq!(Locale::from_tag("en"), Locale::En);
        assert_eq!(Locale::from_tag("en-GB"), Locale::En);
        assert_eq!(Locale::from_tag("th"), Locale::Th);
        assert_eq!(Locale::from_tag("de"), Locale::Th);
    }
}
