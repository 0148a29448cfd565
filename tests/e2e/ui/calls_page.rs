//! The calls page in a real browser (issue 7).
