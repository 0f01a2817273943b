//! Small value types shared by inventory and playbook: durations ("30s"),
//! amounts (a count or a percent), batch specs (an amount or a ramp).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// A duration written as "500ms", "30s", "5m", "1h 30m", or a bare number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span(pub Duration);

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Span;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m or 1h")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Span, E> {
                in_range(Duration::from_secs(v), &v.to_string())
                    .map(Span)
                    .map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Span, E> {
                let secs = u64::try_from(v)
                    .map_err(|_| E::custom(format!("a duration cannot be negative: {v}")))?;
                self.visit_u64(secs)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
                parse_duration(v).map(Span).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A TCP port, 1 to 65535: out of range, 0 or a name (`ssh`) is refused
/// at its place in the file, with what to write instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Port;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port number from 1 to 65535")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Port, E> {
                match u16::try_from(v) {
                    Ok(p) if p > 0 => Ok(Port(p)),
                    _ => Err(E::custom(format!(
                        "port `{v}` is out of range: write a port number from 1 to 65535 \
                         (SSH listens on 22 unless told otherwise)"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Port, E> {
                u64::try_from(v).map_or_else(
                    |_| {
                        Err(E::custom(format!(
                            "port `{v}` is out of range: write a port number from 1 to 65535"
                        )))
                    },
                    |v| self.visit_u64(v),
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Port, E> {
                match v.trim().parse::<u64>() {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!(
                        "port `{v}` is not a number: write the port number (e.g. `22` for ssh)"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A playbook duration (`timeout:`, `interval:`, `retry_delay:`): fixed, or
/// a template rendered per host that must render to a duration
/// (`timeout: "{{ drain_timeout }}"`), checked when the host's plan renders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationValue {
    Fixed(Duration),
    Template(String),
}

impl From<Duration> for DurationValue {
    fn from(d: Duration) -> DurationValue {
        DurationValue::Fixed(d)
    }
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m or 1h, or a template giving one")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationValue, E> {
                in_range(Duration::from_secs(v), &v.to_string())
                    .map(DurationValue::Fixed)
                    .map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationValue, E> {
                let secs = u64::try_from(v)
                    .map_err(|_| E::custom(format!("a duration cannot be negative: {v}")))?;
                self.visit_u64(secs)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationValue, E> {
                if v.contains("{{") || v.contains("{%") {
                    return Ok(DurationValue::Template(v.to_string()));
                }
                parse_duration(v)
                    .map(DurationValue::Fixed)
                    .map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// The longest duration ferry accepts anywhere (timeouts, pauses, lock
/// waits, soak times): 30 days. Longer is a typo, and the bound keeps every
/// deadline ferry computes from it far from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration `{text}` ({e}); use e.g. 500ms, 30s, 5m, 1h"))?;
    in_range(d, text)
}

fn in_range(d: Duration, text: &str) -> Result<Duration, String> {
    if d > MAX_DURATION {
        return Err(format!(
            "duration `{text}` is too long: at most 30 days (720h)"
        ));
    }
    Ok(d)
}

/// A number of hosts: an absolute count or a percent of the selected hosts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    Count(u32),
    Percent(f64),
}

impl Amount {
    /// Resolve against `total` hosts, rounding a percent up so it is at least 1
    /// host whenever it is above zero.
    // A percent is 0 to 100 (`parse_amount`), so the result is 0..=total;
    // host counts are far below f64's 2^53 exact integers.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    pub fn of(self, total: usize) -> usize {
        match self {
            Amount::Count(n) => n as usize,
            Amount::Percent(p) => ((total as f64) * p / 100.0).ceil() as usize,
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amount::Count(n) => write!(f, "{n}"),
            Amount::Percent(p) => write!(f, "{p}%"),
        }
    }
}

pub fn parse_amount(text: &str) -> Result<Amount, String> {
    let text = text.trim();
    let invalid = || format!("invalid amount `{text}`: use a count (3) or a percent (25%)");
    if let Some(p) = text.strip_suffix('%') {
        let p: f64 = p.trim().parse().map_err(|_| invalid())?;
        if !(0.0..=100.0).contains(&p) {
            return Err(format!("percent out of range in `{text}`: use 0% to 100%"));
        }
        Ok(Amount::Percent(p))
    } else {
        text.parse().map(Amount::Count).map_err(|_| invalid())
    }
}

struct AmountVisitor;

impl Visitor<'_> for AmountVisitor {
    type Value = Amount;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a count (3) or a percent (25%)")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Amount, E> {
        u32::try_from(v)
            .map(Amount::Count)
            .map_err(|_| E::custom(format!("count too large: {v}")))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Amount, E> {
        u64::try_from(v)
            .map_err(|_| E::custom(format!("a count cannot be negative: {v}")))
            .and_then(|v| self.visit_u64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Amount, E> {
        parse_amount(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AmountVisitor)
    }
}

/// Batch size: one amount for every batch, or a ramp whose last entry repeats.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchSpec {
    Fixed(Amount),
    Ramp(Vec<Amount>),
}

impl<'de> Deserialize<'de> for BatchSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BatchSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a count, a percent, or a list of them such as [1, 10%, 50%]")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BatchSpec, E> {
                AmountVisitor.visit_u64(v).map(BatchSpec::Fixed)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BatchSpec, E> {
                AmountVisitor.visit_i64(v).map(BatchSpec::Fixed)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BatchSpec, E> {
                AmountVisitor.visit_str(v).map(BatchSpec::Fixed)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BatchSpec, A::Error> {
                let mut steps = Vec::new();
                while let Some(step) = seq.next_element::<Amount>()? {
                    steps.push(step);
                }
                if steps.is_empty() {
                    return Err(de::Error::custom("a batch ramp needs at least one entry"));
                }
                Ok(BatchSpec::Ramp(steps))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_resolve_against_the_fleet() {
        assert_eq!(parse_amount("25%").unwrap().of(10), 3);
        assert_eq!(parse_amount("4").unwrap().of(10), 4);
        assert_eq!(parse_amount("0%").unwrap().of(10), 0);
        assert!(parse_amount("150%").is_err());
        assert!(parse_amount("x").is_err());
    }

    #[test]
    fn durations_parse_human_units() {
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("720h").unwrap(), MAX_DURATION);
        assert!(parse_duration("721h").is_err());
        // humantime parses this, and adding it to an Instant overflowed.
        assert!(parse_duration("500000000000y").is_err());
    }
}
