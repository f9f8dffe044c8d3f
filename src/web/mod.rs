//! The dashboard: plain HTML, CSS and JavaScript from `web/`, compiled into the binary (no build
//! step, no separate process, no asset from anywhere else) and served by `backupd serve` at `/`.
//!
//! The pages hold no data: every figure comes from the public API under `/api/backup`, called
//! by the browser with the operator's token (`Authorization: Bearer`, kept in `sessionStorage`).
//! So the assets are served without a token, before the access guard (`api::routes::build`), and
//! they are not API routes: they are outside `/api`, not in the route table nor the OpenAPI
//! document (the spec test covers `/api/backup` and the root routes such as `/metrics`).
//!
//! Every asset carries a strict Content-Security-Policy (`CSP`): scripts, styles and requests
//! only from this origin, no inline script or style, no framing.

/// One file of the dashboard.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// Every file the dashboard serves, by its path at the server root (the scripts in the order
/// `index.html` loads them).
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/index.html"),
    },
    Asset {
        path: "/core.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/core.js"),
    },
    Asset {
        path: "/overview.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/overview.js"),
    },
    Asset {
        path: "/jobs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/jobs.js"),
    },
    Asset {
        path: "/catalog.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/catalog.js"),
    },
    Asset {
        path: "/audit.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/audit.js"),
    },
    Asset {
        path: "/history.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/history.js"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/app.js"),
    },
    // Loaded by app.js on the first visit to the performance or a run's page (`LAZY`), not by
    // index.html: the overview does not carry it.
    Asset {
        path: "/perf.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/perf.js"),
    },
    Asset {
        path: "/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/app.css"),
    },
];

/// The policy every asset is served with: nothing from another origin, nothing inline.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                       img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

/// The headers every asset carries besides its type.
pub const HEADERS: &[(&str, &str)] = &[
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    // The assets change with the binary; a reload after an upgrade must not mix versions.
    ("Cache-Control", "no-cache"),
];

/// The scripts `app.js` loads when a page needs them rather than `index.html` at the start.
pub const LAZY: &[&str] = &["/perf.js"];

/// The asset served at a request path (`/index.html` is `/`).
pub fn asset(path: &str) -> Option<&'static Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_found_and_nothing_else() {
        for a in ASSETS {
            assert_eq!(asset(a.path).map(|f| f.path), Some(a.path));
            assert!(!a.body.is_empty(), "{}", a.path);
            assert!(!a.path.starts_with("/api"), "{}", a.path);
        }
        assert_eq!(asset("/index.html").map(|a| a.path), Some("/"));
        assert!(asset("/metrics").is_none());
        assert!(asset("/app.js/").is_none());
        assert!(asset("/../Cargo.toml").is_none());
    }

    #[test]
    fn the_page_loads_every_script_and_stylesheet_served() {
        let html = std::str::from_utf8(asset("/").unwrap().body).unwrap();
        let app = std::str::from_utf8(asset("/app.js").unwrap().body).unwrap();
        for a in ASSETS.iter().filter(|a| a.path != "/") {
            let quoted = format!("\"{}\"", a.path);
            // A lazy script is named by app.js and not by the page (that is the point of it).
            let (by, other) = if LAZY.contains(&a.path) {
                (app, html)
            } else {
                (html, app)
            };
            assert!(by.contains(&quoted), "{} is not loaded", a.path);
            assert!(!other.contains(&quoted), "{} is loaded twice", a.path);
        }
        for lazy in LAZY {
            assert!(asset(lazy).is_some(), "{lazy} is not served");
        }
    }

    #[test]
    fn the_pages_load_nothing_from_elsewhere_and_nothing_inline() {
        let html = std::str::from_utf8(asset("/").unwrap().body).unwrap();
        // The CSP would block them; a test catches them before a browser does.
        assert!(!html.contains("<script>"), "inline script");
        assert!(!html.contains("style="), "inline style");
        for a in ASSETS {
            let text = String::from_utf8_lossy(a.body);
            for scheme in ["http://", "https://", "//cdn"] {
                assert!(!text.contains(scheme), "{} refers to {scheme}", a.path);
            }
        }
    }
}
