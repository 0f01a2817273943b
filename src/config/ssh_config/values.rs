//! Values of the keywords ferry applies, checked as OpenSSH checks them
//! (readconf.c): ports, yes/no, `StrictHostKeyChecking`, times
//! (`convtime`), `ProxyJump` hops.

use std::time::Duration;

use super::parse::Place;
use super::SshConfigError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strict {
    Yes,
    Ask,
    AcceptNew,
    No,
}

/// One hop of `ProxyJump`: `[user@]host[:port]` or `ssh://[user@]host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JumpSpec {
    pub text: String,
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

pub(super) fn port(text: &str, at: &Place) -> Result<u16, SshConfigError> {
    text.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| SshConfigError::at(at, format!("bad port `{text}`: write 1 to 65535")))
}

pub(super) fn yes_no(text: &str, at: &Place) -> Result<bool, SshConfigError> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(SshConfigError::at(at, format!("`{text}`: write yes or no"))),
    }
}

pub(super) fn strict(text: &str, at: &Place) -> Result<Strict, SshConfigError> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(Strict::Yes),
        "ask" => Ok(Strict::Ask),
        "accept-new" => Ok(Strict::AcceptNew),
        "no" | "false" | "off" => Ok(Strict::No),
        _ => Err(SshConfigError::at(
            at,
            format!("`StrictHostKeyChecking {text}`: write yes, accept-new, ask or no"),
        )),
    }
}

/// OpenSSH's `convtime`: `90`, `1m30s`, `2h`; units s m h d w.
pub(super) fn time(text: &str, at: &Place) -> Result<Duration, SshConfigError> {
    let bad = || {
        SshConfigError::at(
            at,
            format!("bad time `{text}`: write seconds, or e.g. 1m30s"),
        )
    };
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut add = |digits: &mut String, unit: u64| -> Result<(), SshConfigError> {
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v <= u64::from(i32::MAX.unsigned_abs()))
            .ok_or_else(bad)?;
        Ok(())
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        add(&mut digits, unit)?;
    }
    if !digits.is_empty() {
        add(&mut digits, 1)?;
    }
    Ok(Duration::from_secs(total))
}

pub(super) fn jumps(text: &str, at: &Place) -> Result<Vec<JumpSpec>, SshConfigError> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    text.split(',').map(|hop| jump(hop, at)).collect()
}

fn jump(text: &str, at: &Place) -> Result<JumpSpec, SshConfigError> {
    let bad = |why: &str| SshConfigError::at(at, format!("ProxyJump hop `{text}`: {why}"));
    let rest = text.strip_prefix("ssh://").unwrap_or(text);
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
        Some(_) => return Err(bad("the user before `@` is empty")),
        None => (None, rest),
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let (h, after) = inner
            .split_once(']')
            .ok_or_else(|| bad("`[` without `]`"))?;
        match after.strip_prefix(':') {
            Some("") => (h, None),
            Some(p) => (h, Some(port(p, at)?)),
            None if after.is_empty() => (h, None),
            None => return Err(bad("write [address]:port")),
        }
    } else {
        match hostport.rsplit_once(':') {
            // `host:` is the default port, as OpenSSH reads it.
            Some((h, "")) => (h, None),
            Some((h, p)) => (h, Some(port(p, at)?)),
            None => (hostport, None),
        }
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/' || c == '@') {
        return Err(bad("write [user@]host[:port]"));
    }
    Ok(JumpSpec {
        text: text.to_string(),
        user,
        host: host.to_string(),
        port,
    })
}
