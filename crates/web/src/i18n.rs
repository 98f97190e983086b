//! Message catalogues: Thai (the default) and English, one Fluent file per page and locale under
//! `locales/`, compiled into the binary. Templates hold keys, never visible text.

use std::collections::HashMap;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::{LanguageIdentifier, langid};

/// The console's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Th,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Th => "th",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "th" => Some(Lang::Th),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first supported language in an `Accept-Language` header, by quality; Thai otherwise.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim();
            let quality = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(lang) = Lang::parse(primary)
                && best.is_none_or(|(q, _)| quality > q)
            {
                best = Some((quality, lang));
            }
        }
        best.map_or(Lang::Th, |(_, lang)| lang)
    }
}

/// Every page's messages, per language.
const SOURCES: &[(&str, &str, &str)] = &[
    (
        "common",
        include_str!("../locales/th/common.ftl"),
        include_str!("../locales/en/common.ftl"),
    ),
    (
        "customers",
        include_str!("../locales/th/customers.ftl"),
        include_str!("../locales/en/customers.ftl"),
    ),
    (
        "billing",
        include_str!("../locales/th/billing.ftl"),
        include_str!("../locales/en/billing.ftl"),
    ),
    (
        "admin",
        include_str!("../locales/th/admin.ftl"),
        include_str!("../locales/en/admin.ftl"),
    ),
    (
        "portal",
        include_str!("../locales/th/portal.ftl"),
        include_str!("../locales/en/portal.ftl"),
    ),
    (
        "reports",
        include_str!("../locales/th/reports.ftl"),
        include_str!("../locales/en/reports.ftl"),
    ),
    (
        "imports",
        include_str!("../locales/th/imports.ftl"),
        include_str!("../locales/en/imports.ftl"),
    ),
    (
        "invoices",
        include_str!("../locales/th/invoices.ftl"),
        include_str!("../locales/en/invoices.ftl"),
    ),
];

/// The catalogues, parsed once.
pub fn catalogues() -> &'static Catalogues {
    static CATALOGUES: LazyLock<Catalogues> = LazyLock::new(Catalogues::load);
    &CATALOGUES
}

pub struct Catalogues {
    bundles: HashMap<Lang, FluentBundle<FluentResource>>,
}

impl Catalogues {
    /// Parses every catalogue; a syntax error or a key defined twice is a bug caught by the
    /// unit tests, so it panics here at start-up rather than showing keys to people.
    pub fn load() -> Catalogues {
        let mut bundles = HashMap::new();
        for (lang, id) in [(Lang::Th, langid!("th")), (Lang::En, langid!("en"))] {
            bundles.insert(lang, bundle(lang, id));
        }
        Catalogues { bundles }
    }

    pub fn get(&self, lang: Lang) -> &FluentBundle<FluentResource> {
        &self.bundles[&lang]
    }
}

fn bundle(lang: Lang, id: LanguageIdentifier) -> FluentBundle<FluentResource> {
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around arguments: they show up in copied text and tests.
    bundle.set_use_isolating(false);
    for (name, th, en) in SOURCES {
        let source = match lang {
            Lang::Th => *th,
            Lang::En => *en,
        };
        let resource = FluentResource::try_new(source.to_owned())
            .unwrap_or_else(|(_, errors)| panic!("{}/{name}.ftl: {errors:?}", lang.code()));
        bundle
            .add_resource(resource)
            .unwrap_or_else(|errors| panic!("{}/{name}.ftl: {errors:?}", lang.code()));
    }
    bundle
}

/// One request's view of the catalogues.
#[derive(Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
    bundle: &'static FluentBundle<FluentResource>,
}

impl Tr {
    pub fn new(lang: Lang) -> Tr {
        Tr {
            lang,
            bundle: catalogues().get(lang),
        }
    }

    /// The message for `key`; the key itself (and a warning) when it is missing.
    pub fn t(&self, key: &str) -> String {
        self.format(key, None)
    }

    /// The message for `key` with one argument.
    pub fn t1(&self, key: &str, name: &str, value: impl ToString) -> String {
        let mut args = FluentArgs::new();
        args.set(name, FluentValue::from(value.to_string()));
        self.format(key, Some(&args))
    }

    /// The message for `key` with two arguments.
    pub fn t2(
        &self,
        key: &str,
        (n1, v1): (&str, impl ToString),
        (n2, v2): (&str, impl ToString),
    ) -> String {
        let mut args = FluentArgs::new();
        args.set(n1, FluentValue::from(v1.to_string()));
        args.set(n2, FluentValue::from(v2.to_string()));
        self.format(key, Some(&args))
    }

    pub fn has(&self, key: &str) -> bool {
        self.bundle.has_message(key)
    }

    fn format(&self, key: &str, args: Option<&FluentArgs>) -> String {
        let Some(pattern) = self.bundle.get_message(key).and_then(|m| m.value()) else {
            tracing::warn!(key, lang = self.lang.code(), "missing console message");
            return key.to_owned();
        };
        let mut errors = Vec::new();
        self.bundle
            .format_pattern(pattern, args, &mut errors)
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys named literally in templates (`t("…")`, `t1("…"`, `t2("…"`) and Rust sources.
    fn keys_used_in_sources() -> std::collections::BTreeSet<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["templates", "src", "src/pages"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    files.push(path);
                }
            }
        }
        let mut keys = std::collections::BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for opener in [".t(\"", ".t1(\"", ".t2(\""] {
                for (at, _) in text.match_indices(opener) {
                    let rest = &text[at + opener.len()..];
                    if let Some(end) = rest.find('"') {
                        let key = &rest[..end];
                        if !key.is_empty()
                            && key
                                .chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                        {
                            keys.insert(key.to_owned());
                        }
                    }
                }
            }
        }
        assert!(keys.len() > 20, "the scan found too few keys: {keys:?}");
        keys
    }

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Lang::En);
        assert_eq!(
            Lang::from_accept_language("th-TH,th;q=0.9,en;q=0.8"),
            Lang::Th
        );
        assert_eq!(
            Lang::from_accept_language("fr-FR,en;q=0.5,th;q=0.7"),
            Lang::Th
        );
        assert_eq!(Lang::from_accept_language("de"), Lang::Th);
        assert_eq!(Lang::from_accept_language(""), Lang::Th);
    }

    /// Every key a template or the code asks for exists in both languages, and both catalogues
    /// define the same keys.
    #[test]
    fn catalogues_are_complete_in_both_languages() {
        let keys_of = |lang: Lang| -> std::collections::BTreeSet<String> {
            SOURCES
                .iter()
                .flat_map(|(_, th, en)| {
                    let src = if lang == Lang::Th { *th } else { *en };
                    src.lines()
                        .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_owned()))
                        .filter(|k| !k.is_empty() && !k.starts_with('#') && !k.contains(' '))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let th = keys_of(Lang::Th);
        let en = keys_of(Lang::En);
        assert_eq!(
            th.symmetric_difference(&en).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "keys defined in only one language"
        );
        // And file by file: a page's messages live in that page's file in both languages.
        let keys_in = |src: &str| -> std::collections::BTreeSet<String> {
            src.lines()
                .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_owned()))
                .filter(|k| !k.is_empty() && !k.starts_with('#') && !k.contains(' '))
                .collect()
        };
        for (name, th, en) in SOURCES {
            let (th, en) = (keys_in(th), keys_in(en));
            assert_eq!(
                th.symmetric_difference(&en).collect::<Vec<_>>(),
                Vec::<&String>::new(),
                "{name}.ftl: keys defined in only one language"
            );
        }
        let used = keys_used_in_sources();
        for key in used {
            for lang in [Lang::Th, Lang::En] {
                assert!(
                    Tr::new(lang).has(&key),
                    "{key} is used but missing in {}",
                    lang.code()
                );
            }
        }
    }
}
