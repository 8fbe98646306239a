//! Tokens of the rule language, with their positions.

use alloc::string::String;

/// A position in the rule text: 1-based line and column (in characters), and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// Byte offset from the start of the text.
    pub offset: usize,
}

/// A token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Number(f64),
    Duration(u64),
    Str(String),
    Colon,
    Comma,
    LParen,
    RParen,
    Plus,
    Minus,
    Star,
    Slash,
    Lt,
    Le,
    Gt,
    Ge,
    EqEq,
    Ne,
    Assign,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        use alloc::format;
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Number(n) => format!("number {n}"),
            Tok::Duration(ms) => format!("duration of {ms} ms"),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Colon => "`:`".into(),
            Tok::Comma => "`,`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Plus => "`+`".into(),
            Tok::Minus => "`-`".into(),
            Tok::Star => "`*`".into(),
            Tok::Slash => "`/`".into(),
            Tok::Lt => "`<`".into(),
            Tok::Le => "`<=`".into(),
            Tok::Gt => "`>`".into(),
            Tok::Ge => "`>=`".into(),
            Tok::EqEq => "`==`".into(),
            Tok::Ne => "`!=`".into(),
            Tok::Assign => "`=`".into(),
            Tok::Eof => "the end of the text".into(),
        }
    }
}

/// Why the text could not be split into tokens.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LexError {
    pub(crate) pos: Pos,
    pub(crate) message: String,
}

#[derive(Clone)]
pub(crate) struct Lexer<'a> {
    text: &'a str,
    offset: usize,
    line: u32,
    column: u32,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Lexer { text, offset: 0, line: 1, column: 1 }
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.column, offset: self.offset }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.offset..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.offset += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if c == '#' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.bump();
                }
            } else if c.is_whitespace() {
                self.bump();
            } else {
                break;
            }
        }
    }

    /// Takes the next word of letters, digits, `:`, `-` and `_` as raw text (a device id such
    /// as `2a` or `00-04-a3-0b-00-1c-2d-3e`, which would not lex as one token).
    pub(crate) fn raw_word(&mut self) -> (String, Pos) {
        self.skip_blank();
        let start = self.pos();
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_')) {
            self.bump();
        }
        (self.text[start.offset..self.offset].into(), start)
    }

    /// The next token and where it starts.
    pub(crate) fn next_token(&mut self) -> Result<(Tok, Pos), LexError> {
        self.skip_blank();
        let start = self.pos();
        let err = |message: &str| LexError { pos: start, message: message.into() };
        let Some(c) = self.bump() else { return Ok((Tok::Eof, start)) };
        let tok = match c {
            ':' => Tok::Colon,
            ',' => Tok::Comma,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '+' => Tok::Plus,
            '-' => Tok::Minus,
            '*' => Tok::Star,
            '/' => Tok::Slash,
            '<' if self.peek() == Some('=') => {
                self.bump();
                Tok::Le
            }
            '<' => Tok::Lt,
            '>' if self.peek() == Some('=') => {
                self.bump();
                Tok::Ge
            }
            '>' => Tok::Gt,
            '=' if self.peek() == Some('=') => {
                self.bump();
                Tok::EqEq
            }
            '=' => Tok::Assign,
            '!' if self.peek() == Some('=') => {
                self.bump();
                Tok::Ne
            }
            '"' => {
                let mut s = String::new();
                loop {
                    match self.bump() {
                        None | Some('\n') => return Err(err("this string is not closed")),
                        Some('"') => break,
                        Some('\\') => match self.bump() {
                            Some('"') => s.push('"'),
                            Some('\\') => s.push('\\'),
                            Some('n') => s.push('\n'),
                            _ => return Err(err("unknown escape in string (use \\\" \\\\ or \\n)")),
                        },
                        Some(c) => s.push(c),
                    }
                }
                Tok::Str(s)
            }
            c if c.is_ascii_digit() => return self.number(start),
            c if c.is_alphabetic() || c == '_' => {
                while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    self.bump();
                }
                Tok::Ident(self.text[start.offset..self.offset].into())
            }
            _ => return Err(err("unexpected character")),
        };
        Ok((tok, start))
    }

    fn number(&mut self, start: Pos) -> Result<(Tok, Pos), LexError> {
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.' || c == '_') {
            self.bump();
        }
        // An exponent: 1e3, 2.5E-4.
        if self.peek().is_some_and(|c| c == 'e' || c == 'E') {
            let save = (self.offset, self.line, self.column);
            self.bump();
            if self.peek().is_some_and(|c| c == '+' || c == '-') {
                self.bump();
            }
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
            } else {
                (self.offset, self.line, self.column) = save;
            }
        }
        let digits: String = self.text[start.offset..self.offset].chars().filter(|c| *c != '_').collect();
        let value: f64 =
            digits.parse().map_err(|_| LexError { pos: start, message: "malformed number".into() })?;
        // A unit right after the number makes it a duration.
        let unit_start = self.offset;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.bump();
        }
        let unit = &self.text[unit_start..self.offset];
        if unit.is_empty() {
            return Ok((Tok::Number(value), start));
        }
        let scale = match unit {
            "ms" => 1.0,
            "s" => 1e3,
            "m" | "min" => 60e3,
            "h" => 3_600e3,
            "d" => 86_400e3,
            _ => {
                return Err(LexError {
                    pos: start,
                    message: "unknown duration unit (use ms, s, m, h or d)".into(),
                });
            }
        };
        let ms = value * scale;
        if !(0.0..=u32::MAX as f64).contains(&ms) || ms as u64 as f64 != ms {
            return Err(LexError {
                pos: start,
                message: "duration must be a whole number of milliseconds up to about 49 days".into(),
            });
        }
        Ok((Tok::Duration(ms as u64), start))
    }
}
