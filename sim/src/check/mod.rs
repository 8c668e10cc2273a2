//! Generic checkers over register histories.

pub mod parse;
pub mod wgl;
