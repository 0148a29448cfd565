//! End-to-end tests of the `gatewatch` binary against the real ClickHouse that `ops/test.sh`
//! starts: processes are started, killed and restarted as an operator would, and rows are
//! counted. Each test has its own database, data directory and ports.
mod access;
mod admin;
mod admin_abuse;
mod alerter;
mod alerter_config;
mod alerter_hog;
mod alerter_outage;
mod alerter_pair;
mod alerter_restart;
mod cli;
mod config_check;
mod config_file;
mod credentials;
mod demo;
mod entity_schemas;
mod faults;
mod helpers;
mod hot_reload;
mod ingest_guard;
mod listeners;
mod malformed_params;
mod masking;
mod outbound;
mod path_attacks;
mod readme;
mod record_bounds;
mod report_mail;
mod reports;
mod reports_detail;
mod routing;
mod search_values;
mod spine;
mod test_send;
mod ui;
mod ui_apis;
