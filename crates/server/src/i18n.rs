//! zh-CN and English from Project Fluent files embedded in the binary. The language is the
//! user's setting, then the browser's Accept-Language, then Chinese.

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{static_loader, LanguageIdentifier, Loader};
use std::borrow::Cow;
use std::collections::HashMap;

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    ZhCn,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    fn id(self) -> LanguageIdentifier {
        match self {
            Lang::ZhCn => fluent_templates::langid!("zh-CN"),
            Lang::En => fluent_templates::langid!("en"),
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        let c = code.trim().to_ascii_lowercase();
        if c.starts_with("zh") {
            Some(Lang::ZhCn)
        } else if c.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The first supported language of an Accept-Language header, by q-value.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut langs: Vec<(f32, Lang)> = header
            .split(',')
            .filter_map(|part| {
                let mut it = part.split(';');
                let tag = it.next()?.trim();
                let q = it
                    .find_map(|p| {
                        p.trim()
                            .strip_prefix("q=")
                            .and_then(|q| q.parse::<f32>().ok())
                    })
                    .unwrap_or(1.0);
                Lang::from_code(tag).map(|l| (q, l))
            })
            .collect();
        langs.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        langs.first().map(|(_, l)| *l)
    }

    pub fn t(self, key: &str) -> String {
        LOCALES.lookup(&self.id(), key)
    }

    pub fn t_args(self, key: &str, args: &[(&'static str, String)]) -> String {
        let map: HashMap<Cow<'static, str>, FluentValue<'_>> = args
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.clone())))
            .collect();
        LOCALES.lookup_with_args(&self.id(), key, &map)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported() {
        assert_eq!(
            Lang::from_accept_language("fr;q=0.9, en;q=0.8, zh-CN;q=0.7"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::from_accept_language("zh-TW,zh;q=0.9"),
            Some(Lang::ZhCn)
        );
        assert_eq!(Lang::from_accept_language("de"), None);
    }

    /// Every .ftl file of one language, concatenated (fluent-templates loads them all).
    pub fn all_ftl(dir: &str) -> String {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "ftl"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        let read = |l: &str| all_ftl(&format!("{}/locales/{l}", env!("CARGO_MANIFEST_DIR")));
        let keys = |s: String| -> Vec<String> {
            let mut k: Vec<String> = s
                .lines()
                .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && l.contains(" = "))
                .map(|l| l.split(" = ").next().unwrap().to_string())
                .collect();
            k.sort();
            k
        };
        assert_eq!(keys(read("en")), keys(read("zh-CN")));
    }
}
