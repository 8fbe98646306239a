//! Text to rules: a recursive-descent parser producing the `telemetra-core` rule model.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use telemetra_core::command::FirmwareOffer;
use telemetra_core::rule::{Aggregate, MAX_ACTIONS, MAX_OPS, MAX_RULE_CHANNELS, Window};
use telemetra_core::{
    Action, ChannelId, CommandAction, DeviceId, Expr, FirmwareVersion, Name, Op, Rule, Scope, Severity, Tag,
    Value,
};

use super::DEFAULT_MAX_SAMPLES;
use super::error::{ParseError, ParseWarning};
use super::lexer::{Lexer, Pos, Tok};

type Result<T> = core::result::Result<T, ParseError>;

/// Words that cannot name a channel or a rule. Function names (`avg`, `rate`, ...) and the
/// words of clauses and actions are recognised by position, so they stay free for channels.
pub(crate) const KEYWORDS: &[&str] =
    &["rule", "when", "then", "and", "or", "not", "true", "false", "nan", "inf"];

pub(crate) struct Parser<'a> {
    text: &'a str,
    lexer: Lexer<'a>,
    tok: Tok,
    pos: Pos,
    /// The channel table of the rule being parsed.
    channels: Vec<Name>,
    /// The channels the devices report, with the shortest reporting period declared for each
    /// (0: none), when the rules are checked against them.
    known: Option<&'a [(&'a str, u32)]>,
    /// The channel named last (the one a window is over).
    last_channel: Option<Name>,
    /// How deeply the expression being parsed nests (bounded, so no input overflows the stack).
    depth: u32,
    /// What is valid but probably not what the author meant.
    pub(crate) warnings: Vec<ParseWarning>,
}

/// The deepest nesting of parentheses, `not` and `-` the parser follows.
const MAX_DEPTH: u32 = 32;

impl<'a> Parser<'a> {
    pub(crate) fn new(text: &'a str) -> Result<Self> {
        let mut p = Parser {
            text,
            lexer: Lexer::new(text),
            tok: Tok::Eof,
            pos: Pos::default(),
            channels: Vec::new(),
            known: None,
            last_channel: None,
            depth: 0,
            warnings: Vec::new(),
        };
        p.advance()?;
        Ok(p)
    }

    fn advance(&mut self) -> Result<Tok> {
        let (tok, pos) = self.lexer.next_token().map_err(|e| ParseError::at(self.text, e.pos, e.message))?;
        self.pos = pos;
        Ok(core::mem::replace(&mut self.tok, tok))
    }

    fn error<T>(&self, expected: &str) -> Result<T> {
        Err(ParseError::at(
            self.text,
            self.pos,
            format!("expected {expected}, found {}", self.tok.describe()),
        ))
    }

    fn fail<T>(&self, pos: Pos, message: String) -> Result<T> {
        Err(ParseError::at(self.text, pos, message))
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(&self.tok, Tok::Ident(s) if s == word)
    }

    fn eat_word(&mut self, word: &str) -> Result<bool> {
        if self.is_word(word) {
            self.advance()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect_word(&mut self, word: &str) -> Result<()> {
        if !self.eat_word(word)? {
            return self.error(&format!("`{word}`"));
        }
        Ok(())
    }

    fn expect(&mut self, tok: Tok) -> Result<()> {
        if self.tok != tok {
            return self.error(&tok.describe());
        }
        self.advance()?;
        Ok(())
    }

    fn name(&mut self, what: &str) -> Result<Name> {
        let pos = self.pos;
        match &self.tok {
            Tok::Ident(s) if !KEYWORDS.contains(&s.as_str()) => {
                let name = Name::try_from(s.as_str())
                    .or_else(|_| self.fail(pos, format!("{what} `{s}` is longer than 24 bytes")))?;
                self.advance()?;
                Ok(name)
            }
            Tok::Ident(s) => self.fail(pos, format!("expected {what}, found the keyword `{s}`")),
            _ => self.error(what),
        }
    }

    fn duration(&mut self) -> Result<u32> {
        match self.tok {
            Tok::Duration(ms) => {
                self.advance()?;
                Ok(ms as u32)
            }
            _ => self.error("a duration such as `90s`, `5m` or `1h`"),
        }
    }

    fn integer(&mut self, what: &str, max: u64) -> Result<u64> {
        let pos = self.pos;
        match self.tok {
            Tok::Number(n) if n >= 0.0 && n <= max as f64 && n as u64 as f64 == n => {
                self.advance()?;
                Ok(n as u64)
            }
            Tok::Number(_) => self.fail(pos, format!("{what} must be a whole number from 0 to {max}")),
            _ => self.error(what),
        }
    }

    fn string(&mut self, what: &str) -> Result<String> {
        match &self.tok {
            Tok::Str(s) => {
                let s = s.clone();
                self.advance()?;
                Ok(s)
            }
            _ => self.error(what),
        }
    }

    /// Checks every channel name against `known` (the channels the devices report, with their
    /// periods), and sizes time windows written without `max` from those periods.
    pub(crate) fn knowing(mut self, known: &'a [(&'a str, u32)]) -> Self {
        self.known = Some(known);
        self
    }

    /// The rule's number for channel `name`, adding it to the table.
    fn channel(&mut self, name: Name, pos: Pos) -> Result<u8> {
        if let Some(i) = self.channels.iter().position(|c| *c == name) {
            return Ok(i as u8);
        }
        if let Some(known) = self.known
            && !known.iter().any(|(n, _)| *n == name.as_str())
        {
            let mut listed: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
            listed.sort_unstable();
            listed.dedup();
            return self.fail(
                pos,
                format!("no device reports a channel `{name}`; the channels are {}", listed.join(", ")),
            );
        }
        if self.channels.len() == MAX_RULE_CHANNELS {
            return self.fail(pos, format!("a rule refers to at most {MAX_RULE_CHANNELS} channels"));
        }
        self.channels.push(name);
        Ok((self.channels.len() - 1) as u8)
    }

    /// Every rule in the text.
    pub(crate) fn rules(&mut self) -> Result<Vec<Rule>> {
        let mut rules: Vec<Rule> = Vec::new();
        while self.tok != Tok::Eof {
            let pos = self.pos;
            let rule = self.rule()?;
            if rules.iter().any(|r| r.name == rule.name) {
                return self.fail(pos, format!("a rule named `{}` is already defined", rule.name));
            }
            rules.push(rule);
        }
        Ok(rules)
    }

    /// One command, as a rule's `command` action writes it, and nothing after it.
    pub(crate) fn command_only(&mut self) -> Result<CommandAction> {
        let command = self.command()?;
        match self.tok {
            Tok::Eof => Ok(command),
            _ => self.error("the end of the command"),
        }
    }

    fn rule(&mut self) -> Result<Rule> {
        self.channels.clear();
        self.expect_word("rule")?;
        let name = self.name("a rule name")?;
        self.expect(Tok::Colon)?;
        let scope = self.scope()?;
        self.expect_word("when")?;
        let when = self.expr()?;
        let mut rule = Rule {
            name,
            scope,
            channels: heapless::Vec::new(),
            when,
            hold_ms: 0,
            repeat: 0,
            clear: None,
            clear_repeat: 0,
            cooldown_ms: 0,
            severity: Severity::Warning,
            actions: heapless::Vec::new(),
        };
        if self.eat_word("for")? {
            rule.hold_ms = self.duration()?;
        }
        if self.eat_word("times")? {
            rule.repeat = self.integer("a repeat count", u64::from(u16::MAX))? as u16;
        }
        if self.eat_word("clear")? {
            self.expect_word("when")?;
            rule.clear = Some(self.expr()?);
            if self.eat_word("times")? {
                // Once is the default: `times 1` is written as 0, so the rule stays a version 1
                // frame on the wire.
                let n = self.integer("a repeat count", u64::from(u16::MAX))? as u16;
                rule.clear_repeat = if n > 1 { n } else { 0 };
            }
        }
        if self.eat_word("cooldown")? {
            rule.cooldown_ms = self.duration()?;
        }
        let mut severity = None;
        if self.eat_word("severity")? {
            severity = Some(self.severity()?);
        }
        self.expect_word("then")?;
        loop {
            let pos = self.pos;
            let (action, s) = self.action()?;
            if let Some(s) = s {
                if severity.is_some_and(|old| old != s) {
                    return self.fail(pos, "this rule already has another severity".into());
                }
                severity = Some(s);
            }
            if rule.actions.push(action).is_err() {
                return self.fail(pos, format!("a rule takes at most {MAX_ACTIONS} actions"));
            }
            if self.tok != Tok::Comma {
                break;
            }
            self.advance()?;
        }
        rule.severity = severity.unwrap_or(Severity::Warning);
        rule.channels = self.channels.iter().cloned().collect();
        Ok(rule)
    }

    fn scope(&mut self) -> Result<Scope> {
        if !self.eat_word("on")? {
            return Ok(Scope::All);
        }
        if self.eat_word("all")? {
            return Ok(Scope::All);
        }
        if self.is_word("device") {
            // The id follows `device` directly: read it raw instead of lexing it.
            let (text, pos) = self.lexer.raw_word();
            let id: DeviceId = text.parse().or_else(|e| {
                let text = if text.is_empty() { "nothing".into() } else { format!("`{text}`") };
                self.fail(
                    pos,
                    format!("expected a device id (hexadecimal) after `device`, found {text}: {e}"),
                )
            })?;
            self.advance()?;
            return Ok(Scope::Device(id));
        }
        if self.eat_word("tag")? {
            let key = self.name("a tag key")?;
            self.expect(Tok::Assign)?;
            let pos = self.pos;
            let value = self.string("a tag value in quotes")?;
            let value = Name::try_from(value.as_str())
                .or_else(|_| self.fail(pos, "a tag value holds at most 24 bytes".into()))?;
            return Ok(Scope::Tagged(Tag { key, value }));
        }
        self.error("`all`, `device` or `tag` after `on`")
    }

    fn severity(&mut self) -> Result<Severity> {
        for s in Severity::ALL {
            if self.eat_word(s.as_str())? {
                return Ok(s);
            }
        }
        self.error("a severity (info, warning, minor, major or critical)")
    }

    fn action(&mut self) -> Result<(Action, Option<Severity>)> {
        if self.eat_word("alert")? {
            let severity = self.severity()?;
            let pos = self.pos;
            let text = self.string("an alert message in quotes")?;
            let message = text
                .as_str()
                .try_into()
                .or_else(|_| self.fail(pos, "an alert message holds at most 48 bytes".into()))?;
            return Ok((Action::Alert { message }, Some(severity)));
        }
        if self.eat_word("command")? {
            return Ok((Action::Command(self.command()?), None));
        }
        if self.eat_word("emit")? {
            let pos = self.pos;
            let name = self.name("the name of the derived channel")?;
            let channel = self.channel(name, pos)?;
            self.expect(Tok::Assign)?;
            let value = self.expr()?;
            return Ok((Action::Emit { channel, value }, None));
        }
        self.error("an action (`alert`, `command` or `emit`)")
    }

    fn command(&mut self) -> Result<CommandAction> {
        if self.eat_word("reboot")? {
            let delay_ms = if self.eat_word("after")? { self.duration()? } else { 0 };
            return Ok(CommandAction::Reboot { delay_ms });
        }
        if self.eat_word("set")? {
            let key = self.name("a configuration key")?;
            self.expect(Tok::Assign)?;
            return Ok(CommandAction::SetConfig { key, value: self.literal()? });
        }
        if self.eat_word("actuate")? {
            let channel = ChannelId(self.integer("an actuator channel number", u64::from(u16::MAX))? as u16);
            self.expect(Tok::Assign)?;
            return Ok(CommandAction::Actuate { channel, setpoint: self.literal()? });
        }
        if self.eat_word("request")? {
            let mut channels = heapless::Vec::new();
            while let Tok::Number(_) = self.tok {
                let pos = self.pos;
                let c = ChannelId(self.integer("a channel number", u64::from(u16::MAX))? as u16);
                if channels.push(c).is_err() {
                    return self.fail(pos, "a request names at most 8 channels".into());
                }
                if self.tok == Tok::Comma && matches!(self.peek_next(), Some(Tok::Number(_))) {
                    self.advance()?;
                }
            }
            return Ok(CommandAction::RequestReadings { channels });
        }
        if self.eat_word("firmware")? {
            let pos = self.pos;
            let url = self.string("the firmware URL in quotes")?;
            let url = url
                .as_str()
                .try_into()
                .or_else(|_| self.fail(pos, "a firmware URL holds at most 96 bytes".into()))?;
            self.expect_word("version")?;
            let major = self.integer("a major version", u64::from(u16::MAX))? as u16;
            let minor = self.integer("a minor version", u64::from(u16::MAX))? as u16;
            let patch = self.integer("a patch version", u64::from(u16::MAX))? as u16;
            self.expect_word("size")?;
            let size = self.integer("the image size in bytes", u64::from(u32::MAX))? as u32;
            self.expect_word("sha256")?;
            let pos = self.pos;
            let hex = self.string("the SHA-256 digest as 64 hex digits in quotes")?;
            let Some(sha256) = parse_sha256(&hex) else {
                return self.fail(pos, "a SHA-256 digest is 64 hexadecimal digits".into());
            };
            let version = FirmwareVersion::new(major, minor, patch);
            return Ok(CommandAction::FirmwareUpdate(FirmwareOffer { version, size, sha256, url }));
        }
        self.error("a command (`reboot`, `set`, `actuate`, `request` or `firmware`)")
    }

    /// The token after the current one.
    fn peek_next(&self) -> Option<Tok> {
        self.lexer.clone().next_token().ok().map(|(t, _)| t)
    }

    fn literal(&mut self) -> Result<Value> {
        let negative = if self.tok == Tok::Minus {
            self.advance()?;
            true
        } else {
            false
        };
        match self.tok.clone() {
            Tok::Number(n) => {
                self.advance()?;
                Ok(Value::from(if negative { -n } else { n }))
            }
            Tok::Ident(w) if !negative && (w == "true" || w == "false") => {
                self.advance()?;
                Ok(Value::Bool(w == "true"))
            }
            Tok::Str(s) if !negative => {
                let pos = self.pos;
                self.advance()?;
                let text = s
                    .as_str()
                    .try_into()
                    .or_else(|_| self.fail(pos, "a text value holds at most 48 bytes".into()))?;
                Ok(Value::State(text))
            }
            _ => self.error("a number, `true`, `false` or a string"),
        }
    }

    // Expressions: or > and > not > comparison > sum > product > unary > primary.

    fn expr(&mut self) -> Result<Expr> {
        let start = self.pos;
        let mut ops = Vec::new();
        self.or(&mut ops)?;
        let expr = Expr::from_ops(&ops)
            .or_else(|_| self.fail(start, format!("this expression has more than {MAX_OPS} operations")))?;
        expr.validate(MAX_RULE_CHANNELS)
            .or_else(|e| self.fail(start, format!("this expression is too complex to evaluate: {e}")))?;
        Ok(expr)
    }

    fn nested(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail(self.pos, format!("expressions nest at most {MAX_DEPTH} deep"));
        }
        Ok(())
    }

    fn or(&mut self, ops: &mut Vec<Op>) -> Result<()> {
        self.nested()?;
        self.or_inner(ops)?;
        self.depth -= 1;
        Ok(())
    }

    fn or_inner(&mut self, ops: &mut Vec<Op>) -> Result<()> {
        self.left_assoc(ops, Self::and, |t| matches!(t, Tok::Ident(w) if w == "or").then_some(Op::Or))
    }

    fn and(&mut self, ops: &mut Vec<Op>) -> Result<()> {
        self.left_assoc(ops, Self::not, |t| matches!(t, Tok::Ident(w) if w == "and").then_some(Op::And))
    }

    fn not(&mut self, ops: &mut Vec<Op>) -> Result<()> {
        if self.eat_word("not")? {
            self.nested()?;
            self.not(ops)?;
            self.depth -= 1;
            ops.push(Op::Not);
            return Ok(());
        }
        self.comparison(ops)
    }

    fn comparison(&mut self, ops: &mut Vec<Op>) -> Result<()> {
        self.sum(ops)?;
        let op = match self.tok {
            Tok::Lt => Op::Lt,
            Tok::Le => Op::Le,
            Tok::Gt => Op::Gt,
            Tok::Ge => Op::Ge,
            Tok::EqEq => Op::Eq,
            Tok::Ne => Op::Ne,
            _ => return Ok(()),
        };
        self.advance()?;
        self.sum(ops)?;
        ops.push(op);
        Ok(())
    }

    fn sum(&mut self, ops: &mut Vec<Op>) -> Result<()> {
        self.left_assoc(ops, Self::product, |t| match t {
            Tok::Plus => Some(Op::Add),
            Tok::Minus => Some(Op::Sub),
            _ => None,
        })
    }

    fn product(&mut self, ops: &mut Vec<Op>) -> Result<()> {
        self.left_assoc(ops, Self::unary, |t| match t {
            Tok::Star => Some(Op::Mul),
            Tok::Slash => Some(Op::Div),
            _ => None,
        })
    }

    /// `operand {operator operand}`, left-associative.
    fn left_assoc(
        &mut self,
        ops: &mut Vec<Op>,
        operand: fn(&mut Self, &mut Vec<Op>) -> Result<()>,
        operator: fn(&Tok) -> Option<Op>,
    ) -> Result<()> {
        operand(self, ops)?;
        while let Some(op) = operator(&self.tok) {
            self.advance()?;
            operand(self, ops)?;
            ops.push(op);
        }
        Ok(())
    }

    fn unary(&mut self, ops: &mut Vec<Op>) -> Result<()> {
        if self.tok != Tok::Minus {
            return self.primary(ops);
        }
        self.advance()?;
        // `-3` and `-inf` are constants; `-x` and `-(3)` negate.
        if let Tok::Number(n) = self.tok {
            self.advance()?;
            ops.push(Op::Const(-n));
            return Ok(());
        }
        if self.is_word("inf") {
            self.advance()?;
            ops.push(Op::Const(f64::NEG_INFINITY));
            return Ok(());
        }
        self.nested()?;
        self.unary(ops)?;
        self.depth -= 1;
        ops.push(Op::Neg);
        Ok(())
    }

    fn primary(&mut self, ops: &mut Vec<Op>) -> Result<()> {
        let pos = self.pos;
        match self.tok.clone() {
            Tok::Number(n) => {
                self.advance()?;
                ops.push(Op::Const(n));
            }
            Tok::LParen => {
                self.advance()?;
                self.or(ops)?;
                self.expect(Tok::RParen)?;
            }
            Tok::Ident(w) if w == "true" || w == "false" => {
                self.advance()?;
                ops.push(Op::Const(if w == "true" { 1.0 } else { 0.0 }));
            }
            Tok::Ident(w) if w == "nan" => {
                self.advance()?;
                ops.push(Op::Const(f64::NAN));
            }
            Tok::Ident(w) if w == "inf" => {
                self.advance()?;
                ops.push(Op::Const(f64::INFINITY));
            }
            Tok::Ident(w) if KEYWORDS.contains(&w.as_str()) => {
                return self.error("a number, a channel name, a function or `(`");
            }
            Tok::Ident(w) => {
                let call = self.peek_next() == Some(Tok::LParen);
                if let Some(func) = Aggregate::ALL.into_iter().find(|a| call && a.as_str() == w) {
                    let (channel, window) = self.channel_call(Self::window)?;
                    ops.push(Op::Aggregate { func, channel, window });
                } else if call && w == "rate" {
                    let (channel, window) = self.channel_call(Self::window)?;
                    ops.push(Op::Rate { channel, window });
                } else if call && w == "silent" {
                    self.advance()?;
                    self.expect(Tok::LParen)?;
                    let channel = if matches!(self.tok, Tok::Ident(_)) {
                        let c = self.channel_arg()?;
                        self.expect(Tok::Comma)?;
                        Some(c)
                    } else {
                        None
                    };
                    let for_ms = self.duration()?;
                    self.expect(Tok::RParen)?;
                    ops.push(Op::Silent { channel, for_ms });
                } else if call && w == "changed" {
                    let (channel, by) = self.channel_call(Self::number_literal)?;
                    ops.push(Op::Changed { channel, by });
                } else if call {
                    let known: Vec<&str> = Aggregate::ALL.iter().map(|a| a.as_str()).collect();
                    return self.fail(
                        pos,
                        format!(
                            "unknown function `{w}`; the functions are {}, rate, silent and changed",
                            known.join(", ")
                        ),
                    );
                } else {
                    let name = self.name("a channel name")?;
                    ops.push(Op::Value(self.channel(name, pos)?));
                }
            }
            _ => return self.error("a number, a channel name, a function or `(`"),
        }
        Ok(())
    }

    fn number_literal(&mut self) -> Result<f64> {
        let negative = self.tok == Tok::Minus;
        if negative {
            self.advance()?;
        }
        match self.tok {
            Tok::Number(n) => {
                self.advance()?;
                Ok(if negative { -n } else { n })
            }
            _ => self.error("a number"),
        }
    }

    /// `name(channel, second)`, the current token being the function's name.
    fn channel_call<T>(&mut self, second: fn(&mut Self) -> Result<T>) -> Result<(u8, T)> {
        self.advance()?;
        self.expect(Tok::LParen)?;
        let channel = self.channel_arg()?;
        self.expect(Tok::Comma)?;
        let value = second(self)?;
        self.expect(Tok::RParen)?;
        Ok((channel, value))
    }

    fn channel_arg(&mut self) -> Result<u8> {
        let pos = self.pos;
        let name = self.name("a channel name")?;
        self.last_channel = Some(name.clone());
        self.channel(name, pos)
    }

    /// The samples a time window of `span_ms` written without `max` holds: from the period its
    /// channel's devices declare (every sample of the span, one at each end), when the rules
    /// are checked against devices; else [`DEFAULT_MAX_SAMPLES`].
    fn samples_in(&mut self, span_ms: u32, pos: Pos) -> Result<u16> {
        let (Some(known), Some(channel)) = (self.known, &self.last_channel) else {
            let message = format!(
                "this time window holds at most {DEFAULT_MAX_SAMPLES} samples and drops the oldest beyond: \
                 bound it with `max N`, or check the rules against the devices (`parse_for`) to size it \
                 from how often they report"
            );
            self.warnings.push(ParseWarning(ParseError::at(self.text, pos, message)));
            return Ok(DEFAULT_MAX_SAMPLES);
        };
        match known.iter().find(|(n, _)| *n == channel.as_str()).map(|(_, p)| *p) {
            Some(period) if period > 0 => Ok((span_ms.div_ceil(period) + 1).min(u32::from(u16::MAX)) as u16),
            _ => self.fail(
                pos,
                format!("no device declares how often it reports `{channel}`: bound this window with `max N` samples"),
            ),
        }
    }

    fn window(&mut self) -> Result<Window> {
        let pos = self.pos;
        match self.tok {
            Tok::Duration(_) => {
                let span_ms = self.duration()?;
                let max_samples = if self.eat_word("max")? {
                    self.integer("a sample count", u64::from(u16::MAX))? as u16
                } else {
                    self.samples_in(span_ms, pos)?
                };
                if span_ms == 0 || max_samples == 0 {
                    return self.fail(pos, "a window must not be empty".into());
                }
                Ok(Window::Time { span_ms, max_samples })
            }
            Tok::Number(_) => {
                let n = self.integer("a sample count", u64::from(u16::MAX))? as u16;
                self.expect_word("samples")?;
                if n == 0 {
                    return self.fail(pos, "a window must not be empty".into());
                }
                Ok(Window::Count(n))
            }
            _ => self.error("a window: a duration (`5m`, `5m max 300`) or a count (`10 samples`)"),
        }
    }
}

fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = core::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}
