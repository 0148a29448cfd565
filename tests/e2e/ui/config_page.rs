//! The config page in a real browser (issue 7).
