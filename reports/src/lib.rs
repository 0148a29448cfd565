//! Reports: usage, traffic, latency and error reports over `api_calls` and its rollups, charts
//! (SVG, PNG), CSV, and scheduled report mail.
//!
//! Not built yet: see the reports issue. The crate exists so the workspace has its final shape.
