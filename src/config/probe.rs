//! Conditions to wait for or check: a command on the host, a TCP port, an
//! HTTP URL. Used by `wait_for` tasks and by the playbook's `health` checks.
//! Strings are templates, rendered per host.

use std::time::Duration;

use serde::Deserialize;

use super::values::DurationValue;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSpec {
    pub host: String,
    pub port: u16,
    /// `open` (default) waits for a listener; `closed` for none.
    #[serde(default)]
    pub state: PortState,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    #[default]
    Open,
    Closed,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vantage {
    /// From the machine running ferry (default).
    #[default]
    Controller,
    /// From the host itself (curl over SSH), when the controller cannot reach the app.
    Host,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    pub url: String,
    #[serde(default = "ok_status")]
    pub status: u16,
    /// A substring the body must contain.
    pub body: Option<String>,
    #[serde(default)]
    pub from: Vantage,
}

fn ok_status() -> u16 {
    200
}

/// One condition, before rendering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeSpec {
    Command(String),
    Tcp(TcpSpec),
    Http(HttpSpec),
}

/// What to do when a wait runs out of time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    #[default]
    Fail,
    /// Go on (e.g. a maximum drain time after which the deploy proceeds).
    Continue,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WaitFile {
    command: Option<String>,
    tcp: Option<TcpSpec>,
    http: Option<HttpSpec>,
    timeout: Option<DurationValue>,
    interval: Option<DurationValue>,
    #[serde(default)]
    on_timeout: OnTimeout,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitSpec {
    pub probe: ProbeSpec,
    pub timeout: DurationValue,
    pub interval: DurationValue,
    pub on_timeout: OnTimeout,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HealthFile {
    name: Option<String>,
    command: Option<String>,
    tcp: Option<TcpSpec>,
    http: Option<HttpSpec>,
    retries: Option<u32>,
    interval: Option<DurationValue>,
    timeout: Option<DurationValue>,
}

/// A health check: passes when the probe holds within `retries` + 1 attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthSpec {
    pub name: String,
    pub probe: ProbeSpec,
    pub retries: u32,
    pub interval: DurationValue,
    /// Per attempt.
    pub timeout: DurationValue,
}

fn one_probe(
    command: Option<String>,
    tcp: Option<TcpSpec>,
    http: Option<HttpSpec>,
) -> Result<ProbeSpec, String> {
    let mut found = Vec::new();
    if let Some(c) = command {
        found.push(ProbeSpec::Command(c));
    }
    if let Some(t) = tcp {
        found.push(ProbeSpec::Tcp(t));
    }
    if let Some(h) = http {
        found.push(ProbeSpec::Http(h));
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err("needs one of command, tcp, http".into()),
        _ => Err("takes only one of command, tcp, http".into()),
    }
}

impl WaitFile {
    pub(super) fn resolve(self) -> Result<WaitSpec, String> {
        Ok(WaitSpec {
            probe: one_probe(self.command, self.tcp, self.http)?,
            timeout: or(self.timeout, 60),
            interval: or(self.interval, 1),
            on_timeout: self.on_timeout,
        })
    }
}

impl HealthFile {
    pub(super) fn resolve(self, index: usize) -> Result<HealthSpec, String> {
        let probe = one_probe(self.command, self.tcp, self.http)?;
        let name = self.name.unwrap_or_else(|| match &probe {
            ProbeSpec::Command(_) => format!("health {} (command)", index + 1),
            ProbeSpec::Tcp(_) => format!("health {} (tcp)", index + 1),
            ProbeSpec::Http(_) => format!("health {} (http)", index + 1),
        });
        Ok(HealthSpec {
            name,
            probe,
            retries: self.retries.unwrap_or(3),
            interval: or(self.interval, 1),
            timeout: or(self.timeout, 5),
        })
    }
}

/// The value written, else the default in seconds.
fn or(value: Option<DurationValue>, secs: u64) -> DurationValue {
    value.unwrap_or(DurationValue::Fixed(Duration::from_secs(secs)))
}
