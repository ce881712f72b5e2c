//! Request-type forms: the field definitions a service manager writes, their validation, and
//! the validation of a requester's answers against them. Errors name the field at fault:
//! `form[2].options` for a definition, `answers.<key>` for an answer.
//!
//! A regular-expression pattern is not offered: core has no regex engine and the length and
//! range rules cover the catalogue's needs.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

use crate::ticket::string_enum;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    LongText,
    Number,
    Choice,
    MultiChoice,
    Date,
    /// A user id.
    User,
    /// A file name; the file itself is attached to the ticket.
    Attachment,
}
string_enum!(FieldKind {
    Text => "text",
    LongText => "long_text",
    Number => "number",
    Choice => "choice",
    MultiChoice => "multi_choice",
    Date => "date",
    User => "user",
    Attachment => "attachment",
});

impl FieldKind {
    pub fn has_options(self) -> bool {
        matches!(self, FieldKind::Choice | FieldKind::MultiChoice)
    }

    fn is_text(self) -> bool {
        matches!(self, FieldKind::Text | FieldKind::LongText)
    }

    /// The longest answer a text field takes when the definition sets no maximum.
    pub fn default_max_length(self) -> u32 {
        match self {
            FieldKind::LongText => LONG_TEXT_MAX,
            _ => TEXT_MAX,
        }
    }
}

pub const TEXT_MAX: u32 = 500;
pub const LONG_TEXT_MAX: u32 = 20_000;
pub const MAX_FIELDS: usize = 50;
pub const MAX_OPTIONS: usize = 100;
const LABEL_MAX: usize = 200;
const KEY_MAX: usize = 40;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceOption {
    pub value: String,
    pub label_zh: String,
    pub label_en: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormField {
    /// Lower-case letters, digits and `_`, starting with a letter; unique within the form.
    pub key: String,
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    pub label_zh: String,
    pub label_en: String,
    /// For choice and multi_choice only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<ChoiceOption>,
    /// Text and long text: length in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// Number: the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl FormField {
    pub fn label(&self, zh: bool) -> &str {
        if zh {
            &self.label_zh
        } else {
            &self.label_en
        }
    }

    pub fn option_label(&self, value: &str, zh: bool) -> Option<&str> {
        self.options.iter().find(|o| o.value == value).map(|o| {
            if zh {
                o.label_zh.as_str()
            } else {
                o.label_en.as_str()
            }
        })
    }
}

/// A validation failure naming the field: `form[1].key` or `answers.cpu`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FormError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> FormError {
    FormError {
        field: field.into(),
        message: message.into(),
    }
}

fn check_key(field: &str, key: &str) -> Result<(), FormError> {
    let mut chars = key.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && key.len() <= KEY_MAX;
    if ok {
        Ok(())
    } else {
        Err(err(
            field,
            "must be 1-40 lower-case letters, digits or _, starting with a letter",
        ))
    }
}

fn check_label(field: &str, label: &str) -> Result<(), FormError> {
    let l = label.trim();
    if l.is_empty() {
        return Err(err(field, "is required"));
    }
    if l.chars().count() > LABEL_MAX {
        return Err(err(field, format!("is longer than {LABEL_MAX} characters")));
    }
    if l.chars().any(char::is_control) {
        return Err(err(field, "contains a control character"));
    }
    Ok(())
}

/// Checks a form definition and returns it with labels trimmed.
pub fn validate_definition(fields: &[FormField]) -> Result<Vec<FormField>, FormError> {
    if fields.len() > MAX_FIELDS {
        return Err(err("form", format!("has more than {MAX_FIELDS} fields")));
    }
    let mut keys = HashSet::new();
    let mut out = Vec::with_capacity(fields.len());
    for (i, f) in fields.iter().enumerate() {
        let at = |part: &str| format!("form[{i}].{part}");
        let mut f = f.clone();
        f.key = f.key.trim().to_string();
        check_key(&at("key"), &f.key)?;
        if !keys.insert(f.key.clone()) {
            return Err(err(at("key"), "is used by another field"));
        }
        f.label_zh = f.label_zh.trim().to_string();
        f.label_en = f.label_en.trim().to_string();
        check_label(&at("label_zh"), &f.label_zh)?;
        check_label(&at("label_en"), &f.label_en)?;
        if f.kind.has_options() {
            if f.options.is_empty() {
                return Err(err(at("options"), "is required for a choice field"));
            }
            if f.options.len() > MAX_OPTIONS {
                return Err(err(
                    at("options"),
                    format!("has more than {MAX_OPTIONS} options"),
                ));
            }
            let mut values = HashSet::new();
            for (j, o) in f.options.iter_mut().enumerate() {
                o.value = o.value.trim().to_string();
                o.label_zh = o.label_zh.trim().to_string();
                o.label_en = o.label_en.trim().to_string();
                let field = format!("form[{i}].options[{j}].value");
                check_label(&field, &o.value)?;
                if !values.insert(o.value.clone()) {
                    return Err(err(field, "is used by another option"));
                }
                check_label(&format!("form[{i}].options[{j}].label_zh"), &o.label_zh)?;
                check_label(&format!("form[{i}].options[{j}].label_en"), &o.label_en)?;
            }
        } else if !f.options.is_empty() {
            return Err(err(at("options"), "only choice fields have options"));
        }
        if f.kind.is_text() {
            let cap = f.kind.default_max_length();
            if let Some(max) = f.max_length {
                if max == 0 || max > cap {
                    return Err(err(
                        at("max_length"),
                        format!("must be between 1 and {cap}"),
                    ));
                }
            }
            if let Some(min) = f.min_length {
                if min > f.max_length.unwrap_or(cap) {
                    return Err(err(at("min_length"), "must not exceed max_length"));
                }
            }
        } else if f.min_length.is_some() || f.max_length.is_some() {
            let which = if f.min_length.is_some() {
                "min_length"
            } else {
                "max_length"
            };
            return Err(err(at(which), "only text fields have a length"));
        }
        if f.kind == FieldKind::Number {
            for (name, v) in [("min", f.min), ("max", f.max)] {
                if v.is_some_and(|v| !v.is_finite()) {
                    return Err(err(at(name), "must be a finite number"));
                }
            }
            if let (Some(lo), Some(hi)) = (f.min, f.max) {
                if lo > hi {
                    return Err(err(at("min"), "must not exceed max"));
                }
            }
        } else if f.min.is_some() || f.max.is_some() {
            let which = if f.min.is_some() { "min" } else { "max" };
            return Err(err(at(which), "only number fields have a range"));
        }
        out.push(f);
    }
    Ok(out)
}

/// A submitted answer as it arrives (JSON or a web form). Untagged: a string, a number, a
/// list of strings, or null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    Integer(i64),
    Number(f64),
    Text(String),
    List(Vec<String>),
}

impl Answer {
    /// How the answer reads on a page: a list joined with commas.
    pub fn display(&self) -> String {
        match self {
            Answer::Integer(n) => n.to_string(),
            Answer::Number(n) => n.to_string(),
            Answer::Text(s) => s.clone(),
            Answer::List(v) => v.join(", "),
        }
    }
}

/// Answers by field key; a missing or null answer is no answer.
pub type Answers = BTreeMap<String, Option<Answer>>;

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// `YYYY-MM-DD`, a real calendar date between 1900 and 2999.
pub fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|p| p.parse::<i64>().ok());
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    if !s
        .chars()
        .enumerate()
        .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        return false;
    }
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => return false,
    };
    (1900..=2999).contains(&y) && (1..=days).contains(&d)
}

fn number_of(a: &Answer) -> Option<f64> {
    match a {
        Answer::Integer(n) => Some(*n as f64),
        Answer::Number(n) => Some(*n),
        Answer::Text(s) => s.trim().parse::<f64>().ok(),
        Answer::List(_) => None,
    }
}

fn is_blank(a: &Option<Answer>) -> bool {
    match a {
        None => true,
        Some(Answer::Text(s)) => s.trim().is_empty(),
        Some(Answer::List(v)) => v.iter().all(|s| s.trim().is_empty()),
        Some(_) => false,
    }
}

fn check_text(
    field: &str,
    f: &FormField,
    a: &Answer,
    multi_line: bool,
) -> Result<Answer, FormError> {
    let Answer::Text(s) = a else {
        return Err(err(field, "must be text"));
    };
    let v = if multi_line {
        s.trim_end().replace("\r\n", "\n")
    } else {
        s.trim().to_string()
    };
    let bad = |c: char| c.is_control() && !(multi_line && (c == '\n' || c == '\t'));
    if v.chars().any(bad) {
        return Err(err(field, "contains a control character"));
    }
    let len = v.chars().count() as u32;
    let max = f.max_length.unwrap_or(f.kind.default_max_length());
    if len > max {
        return Err(err(field, format!("is longer than {max} characters")));
    }
    if let Some(min) = f.min_length {
        if len < min {
            return Err(err(field, format!("must be at least {min} characters")));
        }
    }
    Ok(Answer::Text(v))
}

/// Checks answers against a form and returns them normalised (trimmed text, numbers as
/// numbers, choices as their values, blank answers left out). Unknown keys are refused.
pub fn validate_answers(
    fields: &[FormField],
    answers: &Answers,
) -> Result<BTreeMap<String, Answer>, FormError> {
    if let Some(k) = answers
        .keys()
        .find(|k| !fields.iter().any(|f| &f.key == *k))
    {
        return Err(err(format!("answers.{k}"), "is not a field of this form"));
    }
    let mut out = BTreeMap::new();
    for f in fields {
        let field = format!("answers.{}", f.key);
        let raw = answers.get(&f.key).cloned().flatten();
        if is_blank(&raw) {
            if f.required {
                return Err(err(field, "is required"));
            }
            continue;
        }
        let Some(a) = raw else { continue };
        let value = match f.kind {
            FieldKind::Text => check_text(&field, f, &a, false)?,
            FieldKind::LongText => check_text(&field, f, &a, true)?,
            FieldKind::Number => {
                let n = number_of(&a)
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| err(&field, "must be a number"))?;
                if let Some(lo) = f.min.filter(|lo| n < *lo) {
                    return Err(err(&field, format!("must be at least {lo}")));
                }
                if let Some(hi) = f.max.filter(|hi| n > *hi) {
                    return Err(err(&field, format!("must be at most {hi}")));
                }
                if n.fract() == 0.0 && n.abs() < 9.0e15 {
                    Answer::Integer(n as i64)
                } else {
                    Answer::Number(n)
                }
            }
            FieldKind::Choice => {
                let Answer::Text(s) = &a else {
                    return Err(err(&field, "must be one of the options"));
                };
                let s = s.trim();
                if !f.options.iter().any(|o| o.value == s) {
                    return Err(err(&field, "must be one of the options"));
                }
                Answer::Text(s.to_string())
            }
            FieldKind::MultiChoice => {
                let picked: Vec<String> = match &a {
                    Answer::Text(s) => vec![s.trim().to_string()],
                    Answer::List(v) => v
                        .iter()
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                    _ => return Err(err(&field, "must be a list of options")),
                };
                // In the order of the definition, each once.
                let mut values = Vec::new();
                for p in &picked {
                    if !f.options.iter().any(|o| &o.value == p) {
                        return Err(err(&field, "must be one of the options"));
                    }
                }
                for o in &f.options {
                    if picked.contains(&o.value) {
                        values.push(o.value.clone());
                    }
                }
                Answer::List(values)
            }
            FieldKind::Date => {
                let Answer::Text(s) = &a else {
                    return Err(err(&field, "must be a date (YYYY-MM-DD)"));
                };
                if !valid_date(s.trim()) {
                    return Err(err(&field, "must be a date (YYYY-MM-DD)"));
                }
                Answer::Text(s.trim().to_string())
            }
            FieldKind::User => {
                let id = match &a {
                    Answer::Integer(n) => Some(*n),
                    Answer::Text(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                };
                match id.filter(|n| *n > 0) {
                    Some(n) => Answer::Integer(n),
                    None => return Err(err(&field, "must be a user id")),
                }
            }
            FieldKind::Attachment => {
                let Answer::Text(s) = &a else {
                    return Err(err(&field, "must be a file name"));
                };
                let s = s.trim();
                if s.chars().count() > 255 || s.chars().any(char::is_control) {
                    return Err(err(&field, "must be a file name"));
                }
                Answer::Text(s.to_string())
            }
        };
        out.insert(f.key.clone(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(key: &str, kind: FieldKind) -> FormField {
        FormField {
            key: key.into(),
            kind,
            required: false,
            label_zh: "标签".into(),
            label_en: "Label".into(),
            options: vec![],
            min_length: None,
            max_length: None,
            min: None,
            max: None,
        }
    }

    fn opt(v: &str) -> ChoiceOption {
        ChoiceOption {
            value: v.into(),
            label_zh: format!("{v} 中"),
            label_en: v.into(),
        }
    }

    fn laptop_form() -> Vec<FormField> {
        let mut model = field("model", FieldKind::Choice);
        model.required = true;
        model.options = vec![opt("standard"), opt("developer")];
        let mut extras = field("extras", FieldKind::MultiChoice);
        extras.options = vec![opt("dock"), opt("mouse"), opt("bag")];
        let mut qty = field("quantity", FieldKind::Number);
        qty.min = Some(1.0);
        qty.max = Some(5.0);
        let mut why = field("reason", FieldKind::LongText);
        why.min_length = Some(5);
        vec![
            model,
            extras,
            qty,
            field("needed_by", FieldKind::Date),
            why,
            field("manager", FieldKind::User),
            field("quote", FieldKind::Attachment),
        ]
    }

    fn answers(pairs: &[(&str, Answer)]) -> Answers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.clone())))
            .collect()
    }

    #[test]
    fn a_good_definition_passes_and_is_trimmed() {
        let mut form = laptop_form();
        form[0].label_en = "  Model ".into();
        let out = validate_definition(&form).unwrap();
        assert_eq!(out[0].label_en, "Model");
    }

    #[test]
    fn definition_errors_name_the_field() {
        let mut form = laptop_form();
        form[1].key = "model".into();
        assert_eq!(validate_definition(&form).unwrap_err().field, "form[1].key");

        let mut form = laptop_form();
        form[2].key = "Bad Key".into();
        assert_eq!(validate_definition(&form).unwrap_err().field, "form[2].key");

        let mut form = laptop_form();
        form[1].options.clear();
        assert_eq!(
            validate_definition(&form).unwrap_err().field,
            "form[1].options"
        );

        let mut form = laptop_form();
        form[3].options = vec![opt("x")];
        assert_eq!(
            validate_definition(&form).unwrap_err().field,
            "form[3].options"
        );

        let mut form = laptop_form();
        form[0].options[1].value = "standard".into();
        assert_eq!(
            validate_definition(&form).unwrap_err().field,
            "form[0].options[1].value"
        );

        let mut form = laptop_form();
        form[4].label_zh = " ".into();
        assert_eq!(
            validate_definition(&form).unwrap_err().field,
            "form[4].label_zh"
        );

        let mut form = laptop_form();
        form[2].min = Some(9.0);
        assert_eq!(validate_definition(&form).unwrap_err().field, "form[2].min");

        let mut form = laptop_form();
        form[2].max_length = Some(3);
        assert_eq!(
            validate_definition(&form).unwrap_err().field,
            "form[2].max_length"
        );

        let mut form = laptop_form();
        form[4].max_length = Some(3);
        assert_eq!(
            validate_definition(&form).unwrap_err().field,
            "form[4].min_length"
        );
    }

    #[test]
    fn good_answers_are_normalised() {
        let form = validate_definition(&laptop_form()).unwrap();
        let a = answers(&[
            ("model", Answer::Text(" developer ".into())),
            (
                "extras",
                Answer::List(vec!["bag".into(), "dock".into(), "bag".into()]),
            ),
            ("quantity", Answer::Text("2".into())),
            ("needed_by", Answer::Text("2028-02-29".into())),
            ("reason", Answer::Text("New starter\r\nin March  ".into())),
            ("manager", Answer::Text("7".into())),
        ]);
        let out = validate_answers(&form, &a).unwrap();
        assert_eq!(out["model"], Answer::Text("developer".into()));
        assert_eq!(
            out["extras"],
            Answer::List(vec!["dock".into(), "bag".into()])
        );
        assert_eq!(out["quantity"], Answer::Integer(2));
        assert_eq!(out["reason"], Answer::Text("New starter\nin March".into()));
        assert_eq!(out["manager"], Answer::Integer(7));
        assert!(!out.contains_key("quote"));
    }

    #[test]
    fn answer_errors_name_the_key() {
        let form = validate_definition(&laptop_form()).unwrap();
        let check = |pairs: &[(&str, Answer)], field: &str| {
            let mut a = answers(&[("model", Answer::Text("standard".into()))]);
            for (k, v) in pairs {
                a.insert(k.to_string(), Some(v.clone()));
            }
            assert_eq!(
                validate_answers(&form, &a).unwrap_err().field,
                field,
                "{pairs:?}"
            );
        };
        // Required.
        let e = validate_answers(&form, &Answers::new()).unwrap_err();
        assert_eq!(e.field, "answers.model");
        check(&[("model", Answer::Text("  ".into()))], "answers.model");
        check(&[("model", Answer::Text("gold".into()))], "answers.model");
        check(
            &[("extras", Answer::List(vec!["car".into()]))],
            "answers.extras",
        );
        check(&[("quantity", Answer::Integer(6))], "answers.quantity");
        check(
            &[("quantity", Answer::Text("many".into()))],
            "answers.quantity",
        );
        check(
            &[("needed_by", Answer::Text("2027-02-29".into()))],
            "answers.needed_by",
        );
        check(
            &[("needed_by", Answer::Text("tomorrow".into()))],
            "answers.needed_by",
        );
        check(&[("reason", Answer::Text("abc".into()))], "answers.reason");
        check(
            &[("manager", Answer::Text("bob".into()))],
            "answers.manager",
        );
        check(&[("colour", Answer::Text("red".into()))], "answers.colour");
        check(&[("quote", Answer::Integer(3))], "answers.quote");
    }

    #[test]
    fn answers_parse_from_json_shapes() {
        let a: Answers = serde_json_like();
        assert_eq!(a["n"], Some(Answer::Integer(3)));
        assert_eq!(a["l"], Some(Answer::List(vec!["a".into()])));
        assert_eq!(a["z"], None);
    }

    /// Built by hand so that core needs no JSON library.
    fn serde_json_like() -> Answers {
        let mut a = Answers::new();
        a.insert("n".into(), Some(Answer::Integer(3)));
        a.insert("l".into(), Some(Answer::List(vec!["a".into()])));
        a.insert("z".into(), None);
        a
    }

    #[test]
    fn dates() {
        assert!(valid_date("2024-02-29"));
        assert!(!valid_date("2023-02-29"));
        assert!(!valid_date("2023-13-01"));
        assert!(!valid_date("2023-1-01"));
        assert!(!valid_date("+023-01-01"));
    }

    #[test]
    fn kinds_round_trip() {
        for k in FieldKind::ALL {
            assert_eq!(k.as_str().parse::<FieldKind>(), Ok(*k));
        }
    }
}
