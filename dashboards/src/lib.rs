//! Dashboards: the management web UI and the admin API (`/api/v1/`), login, roles and audit.
//!
//! Not built yet: see the management-plane and web UI issues. The crate exists so the workspace
//! has its final shape.
