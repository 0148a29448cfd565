//! The web UI: its files as served (security headers, ETags, 304, 404) and, in a real headless
//! Chromium driven through chromedriver, what each role sees and may do.
mod browser;
mod roles;
mod serving;
mod tls_login;

// One file per page's browser tests.
mod alerts_page;

mod api_docs;

mod api_tls_form;

mod calls_page;

mod config_page;

mod keys_page;

mod mtls_form;

mod nodes_page;

mod portal_pages;

mod policies_form;

mod releases_page;

mod reports_page;

mod routing_acks;

mod scopes_form;

mod versions_ui;
