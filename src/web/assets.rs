//! The web client, embedded in the binary at build time (see `build.rs`).

/// Every file under `static/`, by its path relative to that folder.
static ASSETS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The embedded file at `path` (relative to `static/`) and its media type.
pub(crate) fn get(path: &str) -> Option<(&'static [u8], &'static str)> {
    let (_, body) = ASSETS.iter().find(|(name, _)| *name == path)?;
    Some((body, media_type(path)))
}

fn media_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json" | "webmanifest") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_page_is_embedded() {
        let (body, media) = get("index.html").expect("static/index.html is embedded");
        assert!(!body.is_empty());
        assert_eq!(media, "text/html; charset=utf-8");
        assert!(get("../Cargo.toml").is_none());
        assert!(get("nope.js").is_none());
    }
}
