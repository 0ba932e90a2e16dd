//! The portable pattern rule: the subset of regular expressions on which the browser's
//! `regex-lite` and the server's validator agree — and [`browser_regex`], the one place a pattern
//! becomes a `regex-lite` regex with ECMA-262's meaning of `.` (any character but a line
//! terminator: `\n`, `\r`, U+2028, U+2029), which is what JSON Schema and the server use.

/// Checks that a pattern is in the portable subset both validators read the same way: it must
/// compile, and must not use `\s`/`\S` (Unicode whitespace differs), word boundaries, Unicode
/// classes, escapes by code, back-references, or `(?…)` groups and flags.
pub fn check_pattern(p: &str) -> Result<(), String> {
    if p.chars().count() > 500 {
        return Err("the pattern is too long (500 characters at most)".into());
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(
                    e @ ('s' | 'S' | 'b' | 'B' | 'p' | 'P' | 'u' | 'x' | 'c' | 'k' | '0'..='9'),
                ) => {
                    return Err(format!(
                        "the pattern uses \\{e}, which browsers and the server read differently; \
                         use a character class such as [ \\t] or [0-9] instead"
                    ));
                }
                Some(_) => {}
                None => return Err("the pattern ends with a lone \\".into()),
            }
        } else if c == '(' && chars.clone().next() == Some('?') {
            return Err("the pattern uses a (?…) group, which is not supported here".into());
        }
    }
    browser_regex(p)
        .map(|_| ())
        .map_err(|e| format!("the pattern is not a valid regular expression: {e}"))
}

/// `p` with every `.` outside a character class read as ECMA-262 reads it.
pub fn ecma_dot(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '.' if !in_class => out.push_str("[^\n\r\u{2028}\u{2029}]"),
            _ => out.push(c),
        }
    }
    out
}

/// The browser's regex for a pattern (searched, as JSON Schema does).
pub fn browser_regex(p: &str) -> Result<regex_lite::Regex, regex_lite::Error> {
    regex_lite::Regex::new(&ecma_dot(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_means_no_line_terminator_outside_classes() {
        let re = browser_regex("^x.y$").unwrap();
        assert!(re.is_match("x-y") && re.is_match("xéy"));
        for t in ["x\ny", "x\ry", "x\u{2028}y", "x\u{2029}y"] {
            assert!(!re.is_match(t), "{t:?}");
        }
        assert!(browser_regex("^[.]$").unwrap().is_match("."));
        assert!(!browser_regex("^[.]$").unwrap().is_match("a"));
        assert!(browser_regex(r"^\.$").unwrap().is_match("."));
        assert!(!browser_regex(r"^\.$").unwrap().is_match("a"));
        assert_eq!(ecma_dot(r"[a\]b.]c."), "[a\\]b.]c[^\n\r\u{2028}\u{2029}]");
    }
}
