//! HTML escaping, for everything `report.html` holds: the page and its charts' SVG.

/// HTML-escapes text for element content and attribute values: the SVG of a chart and the
/// page around it (`report.html` escapes every value with it).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
