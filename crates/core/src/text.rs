//! Validation of user-supplied text: length in characters, no control characters.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("is required")]
    Missing,
    #[error("is longer than {max} characters")]
    TooLong { max: usize },
    #[error("contains a control character")]
    ControlCharacter,
}

/// Checks a single-line field (title, name): trimmed, non-empty, at most `max` characters,
/// no control characters at all. Returns the trimmed value.
pub fn single_line(value: &str, max: usize) -> Result<String, TextError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(TextError::Missing);
    }
    if v.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    if v.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter);
    }
    Ok(v.to_string())
}

/// Checks a multi-line field (description, comment): line breaks and tabs are allowed, other
/// control characters are not. Empty is allowed only when `required` is false.
pub fn multi_line(value: &str, max: usize, required: bool) -> Result<String, TextError> {
    let v = value.trim_end().replace("\r\n", "\n");
    if required && v.trim().is_empty() {
        return Err(TextError::Missing);
    }
    if v.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(TextError::ControlCharacter);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn single_line_rules() {
        assert_eq!(single_line("  打印机  ", 10), Ok("打印机".into()));
        assert_eq!(single_line("   ", 10), Err(TextError::Missing));
        assert_eq!(single_line("a\nb", 10), Err(TextError::ControlCharacter));
        assert_eq!(
            single_line("打印机无法连接", 3),
            Err(TextError::TooLong { max: 3 })
        );
    }

    #[test]
    fn multi_line_keeps_breaks() {
        assert_eq!(multi_line("a\r\nb\n", 10, true), Ok("a\nb".into()));
        assert_eq!(
            multi_line("a\u{0}b", 10, true),
            Err(TextError::ControlCharacter)
        );
        assert_eq!(multi_line("", 10, false), Ok(String::new()));
    }

    proptest! {
        #[test]
        fn accepted_single_lines_have_no_controls(s in "\\PC{0,40}") {
            if let Ok(v) = single_line(&s, 40) {
                prop_assert!(!v.chars().any(char::is_control));
                prop_assert!(!v.is_empty());
            }
        }
    }
}
