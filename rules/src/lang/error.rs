//! Parse errors that point at the text.

use alloc::string::String;
use core::fmt;

use super::lexer::Pos;

/// The rule text is not valid. `Display` shows the line with a caret under the problem:
///
/// ```text
/// error at line 1, column 37: expected `then`, found `foo`
///   |
/// 1 | rule hot: when temperature > 30 for 2m foo
///   |                                        ^
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line of the problem.
    pub line: u32,
    /// 1-based column (in characters).
    pub column: u32,
    /// What was wrong, e.g. "expected `then`, found `foo`".
    pub message: String,
    /// The text of the line, for the caret display.
    pub source_line: String,
}

impl ParseError {
    pub(crate) fn at(text: &str, pos: Pos, message: String) -> Self {
        let source_line = text.lines().nth(pos.line as usize - 1).unwrap_or("").into();
        ParseError { line: pos.line, column: pos.column, message, source_line }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.show("error", f)
    }
}

impl ParseError {
    fn show(&self, kind: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gutter = alloc::format!("{}", self.line).len();
        writeln!(f, "{kind} at line {}, column {}: {}", self.line, self.column, self.message)?;
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{} | {}", self.line, self.source_line)?;
        write!(f, "{:gutter$} | {:>col$}", "", "^", col = self.column as usize)
    }
}

impl core::error::Error for ParseError {}

/// Rule text that is valid but probably not what its author meant (a time window whose size
/// nothing bounds, say). Where it is and why, as a [`ParseError`] would say it; `Display`
/// shows it as a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseWarning(pub ParseError);

impl fmt::Display for ParseWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.show("warning", f)
    }
}
