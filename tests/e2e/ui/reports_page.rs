//! The reports page in a real browser (issue 7).
