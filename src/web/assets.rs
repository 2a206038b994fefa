//! The page and its files, built into the binary (no CDN, nothing fetched at run time): the
//! page gets the token and the read-only flag written in; the rest is served by name.

const PAGE: &str = include_str!("../../assets/web/index.html");
const FILES: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../assets/web/app.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("../../assets/web/app.css")),
    (
        "manifest.webmanifest",
        "application/manifest+json",
        include_str!("../../assets/web/manifest.webmanifest"),
    ),
    ("icon.svg", "image/svg+xml", include_str!("../../assets/web/icon.svg")),
];

/// The page, with its token (for the page's actions, which send it in a header) and whether
/// it may act.
pub fn page(token: &str, read_only: bool) -> String {
    // The token is hex: nothing in it needs escaping in an attribute.
    PAGE.replace("{{TOKEN}}", token)
        .replace("{{READ_ONLY}}", if read_only { "true" } else { "false" })
}

/// The file named `name`, with its content type: only the page's own.
pub fn file(name: &str) -> Option<(&'static str, &'static str)> {
    FILES.iter().find(|(n, _, _)| *n == name).map(|(_, kind, body)| (*kind, *body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_gets_its_token_and_nothing_else_is_served() {
        let p = super::page("ab12", true);
        assert!(p.contains("content=\"ab12\"") && p.contains("content=\"true\""), "{p}");
        assert!(!p.contains("{{"));
        assert!(super::file("app.js").is_some());
        for bad in ["../Cargo.toml", "index.html", "", "app.js/", "%2e%2e"] {
            assert!(super::file(bad).is_none(), "{bad}");
        }
    }
}
