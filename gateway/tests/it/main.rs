//! Integration tests of the gateway: upstreams and the collector are tiny hyper servers in
//! this process (see `support`).

mod capture;
mod hardening;
mod proxy;
mod records;
mod shipping;
mod support;
mod traces;
mod upstream_tls;
mod upstreams;
