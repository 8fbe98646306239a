//! Rules back to text: `parse(print(rules)) == rules`.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use telemetra_core::rule::Window;
use telemetra_core::{Action, CommandAction, Expr, Name, Op, Rule, Scope, Value};

use super::DEFAULT_MAX_SAMPLES;

/// Precedence of a printed sub-expression: higher binds tighter.
const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const CMP: u8 = 4;
const SUM: u8 = 5;
const PRODUCT: u8 = 6;
const UNARY: u8 = 7;
const ATOM: u8 = 8;

fn duration(ms: u32) -> String {
    let ms = u64::from(ms);
    for (unit, scale) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms > 0 && ms % scale == 0 {
            return format!("{}{unit}", ms / scale);
        }
    }
    format!("{ms}ms")
}

fn number(n: f64) -> String {
    if n.is_nan() {
        "nan".into()
    } else if n == f64::INFINITY {
        "inf".into()
    } else if n == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        // Rust's shortest round-trip form; the lexer reads it back to the same bits.
        format!("{n:?}")
    }
}

fn window(w: Window) -> String {
    match w {
        Window::Time { span_ms, max_samples } if max_samples == DEFAULT_MAX_SAMPLES => duration(span_ms),
        Window::Time { span_ms, max_samples } => format!("{} max {max_samples}", duration(span_ms)),
        Window::Count(n) => format!("{n} samples"),
    }
}

fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prints an expression over the rule's channel table, with only the parentheses it needs.
pub(crate) fn expr(e: &Expr, channels: &[Name]) -> String {
    let name = |c: u8| channels.get(usize::from(c)).map_or_else(|| format!("channel{c}"), Name::to_string);
    let mut stack: Vec<(String, u8)> = Vec::new();
    for op in &e.ops {
        let item = match *op {
            Op::Const(n) if n.is_sign_negative() && !n.is_nan() => (number(n), UNARY),
            Op::Const(n) => (number(n), ATOM),
            Op::Value(c) => (name(c), ATOM),
            Op::Aggregate { func, channel, window: w } => {
                (format!("{}({}, {})", func.as_str(), name(channel), window(w)), ATOM)
            }
            Op::Rate { channel, window: w } => (format!("rate({}, {})", name(channel), window(w)), ATOM),
            Op::Silent { channel: None, for_ms } => (format!("silent({})", duration(for_ms)), ATOM),
            Op::Silent { channel: Some(channel), for_ms } => {
                (format!("silent({}, {})", name(channel), duration(for_ms)), ATOM)
            }
            Op::Changed { channel, by } => (format!("changed({}, {})", name(channel), number(by)), ATOM),
            Op::Neg | Op::Not => {
                let (text, prec) = stack.pop().unwrap_or_default();
                let (word, level) = if *op == Op::Neg { ("-", UNARY) } else { ("not ", NOT) };
                // `-3` would read back as a constant: negating a number needs parentheses.
                let atomic_number = *op == Op::Neg
                    && matches!(text.chars().next(), Some(c) if c.is_ascii_digit() || c == 'i' || c == 'n');
                if prec < level || atomic_number || (*op == Op::Neg && text.starts_with('-')) {
                    (format!("{word}({text})"), level)
                } else {
                    (format!("{word}{text}"), level)
                }
            }
            _ => {
                let (right, rp) = stack.pop().unwrap_or_default();
                let (left, lp) = stack.pop().unwrap_or_default();
                let (symbol, level) = match op {
                    Op::Add => ("+", SUM),
                    Op::Sub => ("-", SUM),
                    Op::Mul => ("*", PRODUCT),
                    Op::Div => ("/", PRODUCT),
                    Op::Lt => ("<", CMP),
                    Op::Le => ("<=", CMP),
                    Op::Gt => (">", CMP),
                    Op::Ge => (">=", CMP),
                    Op::Eq => ("==", CMP),
                    Op::Ne => ("!=", CMP),
                    Op::And => ("and", AND),
                    _ => ("or", OR),
                };
                // Left-associative; comparisons do not chain, so they parenthesise both sides.
                let left = if lp < level || (level == CMP && lp == CMP) { format!("({left})") } else { left };
                let right = if rp <= level { format!("({right})") } else { right };
                (format!("{left} {symbol} {right}"), level)
            }
        };
        stack.push(item);
    }
    stack.pop().map(|(t, _)| t).unwrap_or_default()
}

fn literal(v: &Value) -> String {
    match v {
        Value::Number(n) => number(n.to_f64()),
        Value::Integer(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::State(s) => quoted(s),
        // Not expressible in rule text (the parser reads none): printed as its latitude.
        Value::Location(l) => number(l.lat.to_f64()),
    }
}

/// A command as a rule's `command` action writes it (what [`parse_command`](super::parse_command)
/// reads).
pub fn print_command(c: &CommandAction) -> String {
    match c {
        CommandAction::Reboot { delay_ms: 0 } => "reboot".into(),
        CommandAction::Reboot { delay_ms } => format!("reboot after {}", duration(*delay_ms)),
        CommandAction::SetConfig { key, value } => format!("set {key} = {}", literal(value)),
        CommandAction::Actuate { channel, setpoint } => {
            format!("actuate {} = {}", channel.0, literal(setpoint))
        }
        CommandAction::RequestReadings { channels } => {
            let list: Vec<String> = channels.iter().map(|c| c.0.to_string()).collect();
            format!("request {}", list.join(", ")).trim_end().into()
        }
        CommandAction::FirmwareUpdate(f) => {
            let hex: String = f.sha256.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "firmware {} version {} {} {} size {} sha256 \"{hex}\"",
                quoted(&f.url),
                f.version.major,
                f.version.minor,
                f.version.patch,
                f.size
            )
        }
    }
}

/// One rule as text, on one line.
pub fn print_rule(rule: &Rule) -> String {
    let channels: &[Name] = &rule.channels;
    let mut out = format!("rule {}:", rule.name);
    match &rule.scope {
        Scope::All => {}
        Scope::Device(d) => {
            let _ = write!(out, " on device {d}");
        }
        Scope::Tagged(t) => {
            let _ = write!(out, " on tag {} = {}", t.key, quoted(&t.value));
        }
    }
    let _ = write!(out, " when {}", expr(&rule.when, channels));
    if rule.hold_ms > 0 {
        let _ = write!(out, " for {}", duration(rule.hold_ms));
    }
    if rule.repeat > 0 {
        let _ = write!(out, " times {}", rule.repeat);
    }
    match (&rule.clear, rule.clear_repeat) {
        (Some(clear), _) => {
            let _ = write!(out, " clear when {}", expr(clear, channels));
        }
        // A count on the implicit clearing condition: written as that condition.
        (None, n) if n > 1 => {
            let _ = write!(out, " clear when not ({})", expr(&rule.when, channels));
        }
        (None, _) => {}
    }
    if rule.clear_repeat > 1 {
        let _ = write!(out, " times {}", rule.clear_repeat);
    }
    if rule.cooldown_ms > 0 {
        let _ = write!(out, " cooldown {}", duration(rule.cooldown_ms));
    }
    let has_alert = rule.actions.iter().any(|a| matches!(a, Action::Alert { .. }));
    if !has_alert {
        let _ = write!(out, " severity {}", rule.severity.as_str());
    }
    out.push_str(" then ");
    let actions: Vec<String> = rule
        .actions
        .iter()
        .map(|a| match a {
            Action::Alert { message } => {
                format!("alert {} {}", rule.severity.as_str(), quoted(message))
            }
            Action::Command(c) => format!("command {}", print_command(c)),
            Action::Emit { channel, value } => {
                let name = channels.get(usize::from(*channel)).map_or_else(String::new, Name::to_string);
                format!("emit {name} = {}", expr(value, channels))
            }
        })
        .collect();
    out.push_str(&actions.join(", "));
    out
}

/// Rules as text, one per line.
pub fn print_rules(rules: &[Rule]) -> String {
    let mut out = String::new();
    for r in rules {
        out.push_str(&print_rule(r));
        out.push('\n');
    }
    out
}
