//! Deploy windows and freezes: when an environment may change. Pure: the
//! current time comes in as an argument.
//!
//! A window reads `Mon-Thu 09:00-16:00 Europe/Berlin`: days (`Mon-Fri`,
//! `Mon,Wed`, `daily`), a time range, and an IANA time zone (default UTC).
//! A freeze is a range of dates (inclusive, UTC) with a reason.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, ZonedDateTime};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Clone, Debug)]
pub struct Window {
    text: String,
    /// Monday first.
    days: [bool; 7],
    start: Time,
    end: Time,
    tz: TimeZone,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freeze {
    pub from: Date,
    pub to: Date,
    pub reason: String,
}

impl Window {
    pub fn parse(text: &str) -> Result<Window, String> {
        let bad = |why: &str| {
            format!("invalid window `{text}`: {why} (e.g. `Mon-Thu 09:00-16:00 Europe/Berlin`)")
        };
        let mut parts = text.split_whitespace();
        let days = parse_days(parts.next().ok_or_else(|| bad("empty"))?).map_err(|e| bad(&e))?;
        let range = parts.next().ok_or_else(|| bad("no time range"))?;
        let (a, b) = range
            .split_once('-')
            .ok_or_else(|| bad("the time range needs `-`"))?;
        let time = |t: &str| {
            t.parse::<Time>()
                .map_err(|_| bad(&format!("bad time `{t}`")))
        };
        let (start, end) = (time(a)?, time(b)?);
        if start >= end {
            return Err(bad("the start must come before the end"));
        }
        let tz = match parts.next() {
            Some(name) => {
                TimeZone::get(name).map_err(|_| bad(&format!("unknown time zone `{name}`")))?
            }
            None => TimeZone::UTC,
        };
        if parts.next().is_some() {
            return Err(bad("unexpected text after the time zone"));
        }
        Ok(Window {
            text: text.to_string(),
            days,
            start,
            end,
            tz,
        })
    }

    fn contains(&self, now: Timestamp) -> bool {
        let local = now.to_zoned_datetime(self.tz.clone());
        let day = day_index(local.weekday());
        let t = local.time();
        self.days[day] && t >= self.start && t < self.end
    }

    /// The next opening strictly after `now`, within two weeks.
    fn next_open(&self, now: Timestamp) -> Option<ZonedDateTime> {
        let today = now.to_zoned_datetime(self.tz.clone()).date();
        (0..15)
            .filter_map(|n| today.checked_add(n.days()).ok())
            .filter(|d| self.days[day_index(d.weekday())])
            .filter_map(|d| {
                d.to_datetime(self.start)
                    .to_zoned_datetime(self.tz.clone())
                    .ok()
            })
            .find(|z| z.timestamp() > now)
    }
}

fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    let lower = text.to_ascii_lowercase();
    if lower == "daily" || lower == "*" {
        return Ok([true; 7]);
    }
    let index = |d: &str| {
        DAYS.iter()
            .position(|x| *x == d)
            .ok_or(format!("unknown day `{d}`"))
    };
    for part in lower.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (index(a)?, index(b)?);
                let mut i = a;
                loop {
                    days[i] = true;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }
            None => days[index(part)?] = true,
        }
    }
    Ok(days)
}

impl Freeze {
    fn contains(&self, now: Timestamp) -> bool {
        let day = now.to_zoned_datetime(TimeZone::UTC).date();
        self.from <= day && day <= self.to
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{why}; {}", next.as_ref().map_or("no window opens in the next two weeks".to_string(), |n| format!("the next window opens {n}")))]
pub struct Closed {
    pub why: String,
    pub next: Option<String>,
}

/// Whether a deploy may start at `now`; when not, why and when it may.
pub fn check(windows: &[Window], freezes: &[Freeze], now: Timestamp) -> Result<(), Closed> {
    let frozen = freezes.iter().find(|f| f.contains(now));
    let in_window = windows.is_empty() || windows.iter().any(|w| w.contains(now));
    if frozen.is_none() && in_window {
        return Ok(());
    }
    let why = match frozen {
        Some(f) => format!("frozen from {} to {}: {}", f.from, f.to, f.reason),
        None => format!(
            "outside the deploy windows ({})",
            windows
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    Err(Closed {
        why,
        next: next_open(windows, freezes, now),
    })
}

/// The first moment after `now` inside a window and outside every freeze.
fn next_open(windows: &[Window], freezes: &[Freeze], now: Timestamp) -> Option<String> {
    let mut from = now;
    for _ in 0..64 {
        let candidate = if windows.is_empty() {
            // No windows: the day after the freeze that holds `from`.
            let f = freezes.iter().find(|f| f.contains(from))?;
            f.to.tomorrow()
                .ok()?
                .to_zoned_datetime(TimeZone::UTC)
                .ok()?
        } else {
            windows.iter().filter_map(|w| w.next_open(from)).min()?
        };
        if !freezes.iter().any(|f| f.contains(candidate.timestamp())) {
            return Some(candidate.strftime("%a %Y-%m-%d %H:%M %Z").to_string());
        }
        from = candidate.timestamp();
    }
    None
}

/// Monday 0 to Sunday 6: the index into a window's `days`.
fn day_index(day: Weekday) -> usize {
    // The offset is 0..=6, so its absolute value is itself.
    usize::from(day.to_monday_zero_offset().unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn windows_parse_and_hold_in_their_zone() {
        let w = Window::parse("Mon-Thu 09:00-16:00 Europe/Berlin").unwrap();
        // 2026-11-23 is a Monday; 08:30 UTC is 09:30 in Berlin (UTC+1).
        assert!(w.contains(at("2026-11-23T08:30:00Z")));
        assert!(!w.contains(at("2026-11-23T15:30:00Z")));
        assert!(!w.contains(at("2026-11-27T10:00:00Z")), "a Friday");
        assert!(Window::parse("Mon-Thu 16:00-09:00").is_err());
        assert!(Window::parse("Mon-Funday 09:00-16:00").is_err());
        assert!(Window::parse("Mon 09:00-16:00 Mars/Olympus").is_err());
    }

    #[test]
    fn closed_names_the_next_window() {
        let w = vec![Window::parse("Mon-Thu 09:00-16:00 Europe/Berlin").unwrap()];
        let err = check(&w, &[], at("2026-11-27T10:00:00Z")).unwrap_err();
        assert_eq!(err.next.as_deref(), Some("Mon 2026-11-30 09:00 CET"));
        assert!(err
            .to_string()
            .starts_with("outside the deploy windows (Mon-Thu 09:00-16:00 Europe/Berlin)"));
    }

    #[test]
    fn a_freeze_closes_windows_and_the_next_opening_skips_it() {
        let w = vec![Window::parse("daily 09:00-17:00").unwrap()];
        let f = vec![Freeze {
            from: "2026-12-20".parse().unwrap(),
            to: "2027-01-04".parse().unwrap(),
            reason: "holidays".into(),
        }];
        let err = check(&w, &f, at("2026-12-24T10:00:00Z")).unwrap_err();
        assert!(err.why.contains("holidays"), "{err}");
        assert_eq!(err.next.as_deref(), Some("Tue 2027-01-05 09:00 UTC"));
        assert!(check(&w, &f, at("2027-01-05T10:00:00Z")).is_ok());
        assert!(check(&[], &[], at("2027-01-05T03:00:00Z")).is_ok());
    }
}
