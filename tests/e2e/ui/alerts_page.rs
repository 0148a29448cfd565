//! The alerts page in a real browser (issue 7).
