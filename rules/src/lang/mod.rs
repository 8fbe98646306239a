//! The rule language: text to the `telemetra-core` rule model and back.
//!
//! The grammar, with examples, is in the crate's README.

mod error;
mod lexer;
mod parser;
mod printer;

use alloc::vec::Vec;

pub use error::ParseError;
pub use lexer::Pos;
pub use printer::{print_rule, print_rules};
use telemetra_core::Rule;

/// The sample capacity of a time window written without `max N`.
pub const DEFAULT_MAX_SAMPLES: u16 = 64;

/// Parses every rule of a rule file.
pub fn parse(text: &str) -> Result<Vec<Rule>, ParseError> {
    parser::Parser::new(text)?.rules()
}

/// Parses exactly one rule.
pub fn parse_rule(text: &str) -> Result<Rule, ParseError> {
    let mut rules = parse(text)?;
    match rules.len() {
        1 => Ok(rules.remove(0)),
        n => Err(ParseError {
            line: 1,
            column: 1,
            message: alloc::format!("expected exactly one rule, found {n}"),
            source_line: text.lines().next().unwrap_or("").into(),
        }),
    }
}

#[cfg(test)]
mod tests;
