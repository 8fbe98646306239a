//! The vendored chart library, uPlot 1.6.32 (MIT licence, `assets/uPlot.LICENSE`), served
//! from the binary: no network, no JavaScript toolchain.

use axum::http::header;
use axum::response::IntoResponse;

const UPLOT_JS: &str = include_str!("assets/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("assets/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("assets/uPlot.LICENSE");

/// A day: the files change only with the crate's version.
const CACHE: &str = "public, max-age=86400";

pub(crate) async fn uplot_js() -> impl IntoResponse {
    let body = format!("/*\n{UPLOT_LICENSE}*/\n{UPLOT_JS}");
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, CACHE)], body)
}

pub(crate) async fn uplot_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, CACHE)], UPLOT_CSS)
}
