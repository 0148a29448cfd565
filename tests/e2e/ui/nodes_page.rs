//! The nodes page in a real browser (issue 7).
