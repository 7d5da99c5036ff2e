//! Text as the app's columns can hold it. The app's tables are `utf8mb3`, which has no room for
//! 4-byte characters (emoji): MySQL rejects them in strict mode and turns them into `?`
//! otherwise. The app's own Airtable text already stores them as HTML entities (`&#128075;`), so
//! the sync does the same for `utf8mb3` columns and reports the row.

/// `value` with every character outside the Basic Multilingual Plane written as a decimal HTML
/// entity; `None` when nothing had to change.
pub fn entities_for_4_byte(value: &str) -> Option<String> {
    if value.chars().all(|c| c.len_utf8() < 4) {
        return None;
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if c.len_utf8() == 4 {
            out.push_str(&format!("&#{};", c as u32));
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Escaped for HTML text and double-quoted attributes.
pub fn html_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_4_byte_characters_become_entities() {
        assert_eq!(entities_for_4_byte("héllo — ok"), None);
        assert_eq!(
            entities_for_4_byte("Hi 👋 there").as_deref(),
            Some("Hi &#128075; there")
        );
    }

    #[test]
    fn html_escape_covers_attributes() {
        assert_eq!(
            html_escape(r#"R & "Python" <3"#),
            "R &amp; &quot;Python&quot; &lt;3"
        );
    }
}
