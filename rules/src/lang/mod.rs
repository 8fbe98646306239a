//! The rule language: text to the `telemetra-core` rule model and back.
//!
//! The grammar, with examples, is in the crate's README.

mod error;
mod lexer;
mod parser;
mod printer;

use alloc::vec::Vec;

pub use error::{ParseError, ParseWarning};
pub use lexer::Pos;
pub use printer::{print_command, print_rule, print_rules};
use telemetra_core::Rule;

/// The sample capacity of a time window written without `max N`.
pub const DEFAULT_MAX_SAMPLES: u16 = 64;

/// Parses every rule of a rule file. A time window written without `max` holds
/// [`DEFAULT_MAX_SAMPLES`]: [`parse_with_warnings`] points at each such window, and
/// [`parse_for`] sizes them from the devices' reporting periods.
pub fn parse(text: &str) -> Result<Vec<Rule>, ParseError> {
    parser::Parser::new(text)?.rules()
}

/// As [`parse`], and says what in the text is valid but probably not meant: each time window
/// that nothing bounds (no `max`, no device period) and so holds [`DEFAULT_MAX_SAMPLES`].
///
/// ```
/// # use telemetra_rules::parse_with_warnings;
/// let text = "rule warm: when avg(t, 6h) > 25 then alert minor \"Warm\"";
/// let (rules, warnings) = parse_with_warnings(text).unwrap();
/// assert_eq!(rules.len(), 1);
/// assert_eq!((warnings[0].0.line, warnings[0].0.column), (1, 24));
/// assert!(warnings[0].to_string().starts_with("warning at line 1, column 24: this time window holds at most 64"));
/// // Bounded, nothing to say:
/// let (_, warnings) = parse_with_warnings("rule warm: when avg(t, 6h max 361) > 25 then alert minor \"Warm\"").unwrap();
/// assert!(warnings.is_empty());
/// ```
pub fn parse_with_warnings(text: &str) -> Result<(Vec<Rule>, Vec<ParseWarning>), ParseError> {
    let mut parser = parser::Parser::new(text)?;
    let rules = parser.rules()?;
    Ok((rules, parser.warnings))
}

/// Parses every rule of a rule file and checks each channel it names against the channels
/// of `devices` (their descriptors): a misspelt or unknown channel is an error at its line
/// and column, where [`parse`] would accept it and the rule would never fire. A time window
/// written without `max` is sized from how often the devices say they report that channel
/// (`avg(t, 6h)` over a 1-minute channel holds 361 samples, where [`parse`] gives every such
/// window [`DEFAULT_MAX_SAMPLES`] and drops the oldest beyond); a channel that declares no
/// period needs an explicit `max`.
///
/// ```
/// # use telemetra_rules::parse_for;
/// # use telemetra_core::{ChannelId, ChannelSpec, Device, DeviceId, FirmwareVersion, Quantity, Unit};
/// # use telemetra_core::text::bounded;
/// let sensor = Device {
///     id: DeviceId(1),
///     model: bounded("model", "th").unwrap(),
///     firmware: FirmwareVersion::new(1, 0, 0),
///     channels: [ChannelSpec {
///         id: ChannelId(1),
///         name: bounded("name", "temperature").unwrap(),
///         quantity: Quantity::Temperature,
///         unit: Unit::Celsius,
///         period_ms: 60_000,
///     }]
///     .into_iter()
///     .collect(),
///     tags: Default::default(),
/// };
/// let e = parse_for("rule hot: when temprature > 30 then alert major \"Hot\"", &[sensor]).unwrap_err();
/// assert_eq!((e.line, e.column), (1, 16));
/// assert_eq!(e.message, "no device reports a channel `temprature`; the channels are temperature");
/// ```
pub fn parse_for(text: &str, devices: &[telemetra_core::Device]) -> Result<Vec<Rule>, ParseError> {
    // Each channel once, with the shortest period a device declares for it (0: none).
    let mut known: Vec<(&str, u32)> = Vec::new();
    for c in devices.iter().flat_map(|d| d.channels.iter()) {
        match known.iter_mut().find(|(n, _)| *n == c.name.as_str()) {
            Some((_, p)) if c.period_ms > 0 && (*p == 0 || c.period_ms < *p) => *p = c.period_ms,
            Some(_) => {}
            None => known.push((c.name.as_str(), c.period_ms)),
        }
    }
    parser::Parser::new(text)?.knowing(&known).rules()
}

/// Parses one command as a rule's `command` action writes it (`set cooling = 1`, `reboot after
/// 5s`, `actuate 3 = 40`, `request 1, 2`): what an operator types to send one by hand.
///
/// ```
/// # use telemetra_rules::parse_command;
/// # use telemetra_core::CommandAction;
/// let c = parse_command("reboot after 5s").unwrap();
/// assert_eq!(c, CommandAction::Reboot { delay_ms: 5_000 });
/// assert_eq!(telemetra_rules::print_command(&c), "reboot after 5s");
/// assert!(parse_command("reboot now").is_err());
/// ```
pub fn parse_command(text: &str) -> Result<telemetra_core::CommandAction, ParseError> {
    parser::Parser::new(text)?.command_only()
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
