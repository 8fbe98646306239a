//! MQTT topic names and filters (MQTT 5.0 section 4.7, the same rules as 3.1.1): validation,
//! matching, and shared subscriptions.
//!
//! ```
//! use telemetra_transports::mqtt::topic::{matches, validate_filter, validate_name};
//! assert!(validate_name("tm/v1/2a/readings").is_ok());
//! assert!(validate_filter("tm/v1/+/readings").is_ok());
//! assert!(matches("tm/v1/+/readings", "tm/v1/2a/readings"));
//! assert!(matches("sport/#", "sport"));
//! assert!(!matches("+/+", "$SYS/broker"), "wildcards never match topics starting with $");
//! ```

/// The longest topic MQTT can carry: a two-byte length prefix.
pub const MAX_TOPIC_LEN: usize = 65_535;

/// Why a topic name or filter is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// Topic names and filters must be at least one character long.
    #[error("topic is empty")]
    Empty,
    /// Longer than 65,535 bytes.
    #[error("topic is longer than 65535 bytes")]
    TooLong,
    /// Contains U+0000, which MQTT forbids in every string.
    #[error("topic contains the null character")]
    NullChar,
    /// A topic name (what a PUBLISH carries) contains `+` or `#`.
    #[error("a topic name must not contain the wildcards + or #")]
    WildcardInName,
    /// `#` is not alone in the last level of a filter.
    #[error("# must be the last character of a filter and alone in its level")]
    MisplacedMultiLevel,
    /// `+` shares its level with other characters.
    #[error("+ must be alone in its level")]
    MisplacedSingleLevel,
    /// A `$share/` filter without a valid share name and filter after it.
    #[error("a shared subscription is $share/{{name}}/{{filter}}, the name non-empty and without / + #")]
    BadShare,
}

fn common(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    if topic.contains('\0') {
        return Err(TopicError::NullChar);
    }
    Ok(())
}

/// Checks a topic name, as a PUBLISH carries it: no wildcards.
pub fn validate_name(name: &str) -> Result<(), TopicError> {
    common(name)?;
    if name.contains(['+', '#']) {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Checks a topic filter, as a SUBSCRIBE carries it: `+` alone in a level, `#` alone in the
/// last level; a `$share/{name}/{filter}` shared subscription is checked as such.
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    common(filter)?;
    if let Some(rest) = filter.strip_prefix("$share/") {
        let (name, inner) = rest.split_once('/').ok_or(TopicError::BadShare)?;
        if name.is_empty() || name.contains(['+', '#']) || inner.is_empty() {
            return Err(TopicError::BadShare);
        }
        return validate_filter(inner);
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(TopicError::MisplacedMultiLevel);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::MisplacedSingleLevel);
        }
    }
    Ok(())
}

/// A shared subscription: the group that shares it and the filter it subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shared<'a> {
    /// The share name: subscribers with the same name share the messages.
    pub group: &'a str,
    /// The filter the group subscribes to.
    pub filter: &'a str,
}

/// Splits a valid `$share/{group}/{filter}` into its parts; `None` for an ordinary filter.
pub fn shared(filter: &str) -> Option<Shared<'_>> {
    let (group, filter) = filter.strip_prefix("$share/")?.split_once('/')?;
    Some(Shared { group, filter })
}

/// Whether a (valid) filter matches a (valid) topic name. `+` matches exactly one level (which
/// may be empty), `#` matches the parent level and any number of levels below it, and a
/// filter starting with a wildcard never matches a name starting with `$` (section 4.7.2).
/// A shared subscription matches what its inner filter matches.
pub fn matches(filter: &str, name: &str) -> bool {
    let filter = shared(filter).map_or(filter, |s| s.filter);
    if name.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut f = filter.split('/');
    let mut n = name.split('/');
    loop {
        match (f.next(), n.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use telemetra_core::{DeviceId, Route, RouteFilter, RouteKind};

    #[test]
    fn the_specification_examples() {
        // MQTT 5.0 section 4.7.1.2 and 4.7.1.3.
        for f in ["sport/tennis/player1/#", "sport/#", "#", "+", "+/tennis/#", "sport/+/player1", "/+", "+/+"]
        {
            assert_eq!(validate_filter(f), Ok(()), "{f}");
        }
        assert_eq!(validate_filter("sport/tennis#"), Err(TopicError::MisplacedMultiLevel));
        assert_eq!(validate_filter("sport/tennis/#/ranking"), Err(TopicError::MisplacedMultiLevel));
        assert_eq!(validate_filter("sport+"), Err(TopicError::MisplacedSingleLevel));
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
        assert!(matches("sport/#", "sport"));
        assert!(matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("sport/+", "sport/"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        assert!(!matches("#", "$SYS/uptime"));
        assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/#", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
    }

    #[test]
    fn names_and_strings() {
        assert_eq!(validate_name(""), Err(TopicError::Empty));
        assert_eq!(validate_name("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(validate_name("a/#"), Err(TopicError::WildcardInName));
        assert_eq!(validate_name("a\0b"), Err(TopicError::NullChar));
        assert_eq!(validate_name(&"a".repeat(MAX_TOPIC_LEN + 1)), Err(TopicError::TooLong));
        assert_eq!(validate_name("/"), Ok(()));
        assert_eq!(validate_name("température/°C"), Ok(()));
    }

    #[test]
    fn shared_subscriptions() {
        assert_eq!(validate_filter("$share/servers/tm/v1/+/readings"), Ok(()));
        assert_eq!(
            shared("$share/servers/tm/v1/+/readings"),
            Some(Shared { group: "servers", filter: "tm/v1/+/readings" })
        );
        assert!(matches("$share/servers/tm/v1/+/readings", "tm/v1/2a/readings"));
        for bad in ["$share/", "$share//a", "$share/g", "$share/g/", "$share/g+/a", "$share/g/a#"] {
            assert!(validate_filter(bad).is_err(), "{bad}");
        }
        assert_eq!(shared("tm/v1/#"), None);
    }

    #[test]
    fn the_route_scheme_is_valid_mqtt() {
        for kind in RouteKind::ALL {
            let route = Route::new(kind, DeviceId(0x2a));
            assert_eq!(validate_name(&route.topic()), Ok(()));
            for filter in [RouteFilter::ALL, RouteFilter::kind(kind), RouteFilter::exact(route)] {
                let f = filter.topic_filter();
                assert_eq!(validate_filter(&f), Ok(()), "{f}");
                assert_eq!(matches(&f, &route.topic()), filter.matches(&route), "{f} vs {}", route.topic());
            }
            let other = Route::new(kind, DeviceId(7));
            let f = RouteFilter::exact(route).topic_filter();
            assert!(!matches(&f, &other.topic()));
        }
    }

    fn level() -> impl Strategy<Value = String> {
        "[a-z$]{0,3}"
    }

    proptest! {
        #[test]
        fn a_name_matches_itself_and_hash_matches_everything_not_dollar(levels in proptest::collection::vec(level(), 1..6)) {
            let name = levels.join("/");
            prop_assume!(validate_name(&name).is_ok());
            prop_assert!(matches(&name, &name));
            prop_assert_eq!(matches("#", &name), !name.starts_with('$'));
        }

        #[test]
        fn replacing_a_level_by_plus_still_matches(levels in proptest::collection::vec(level(), 1..6), at in any::<proptest::sample::Index>()) {
            let name = levels.join("/");
            prop_assume!(validate_name(&name).is_ok());
            let i = at.index(levels.len());
            let mut f = levels.clone();
            f[i] = "+".into();
            let filter = f.join("/");
            prop_assert_eq!(validate_filter(&filter), Ok(()));
            prop_assert_eq!(matches(&filter, &name), !(i == 0 && name.starts_with('$')));
        }

        #[test]
        fn arbitrary_text_never_panics(filter in "\\PC{0,20}", name in "\\PC{0,20}") {
            let _ = validate_filter(&filter);
            let _ = validate_name(&name);
            let _ = matches(&filter, &name);
        }
    }
}
