//! Built-in drain providers (`drain: { provider: ... }`), rendered per host.
//! The controller half of `HAProxy` lives in [`haproxy`]; the host commands of
//! `health_file` in [`crate::steps::drain`]; the pipeline runs both.

pub mod haproxy;

use crate::config::drain::{DrainProvider, DrainWait};
use crate::render::{RenderError, Renderer};

/// A provider with its templates rendered for one host.
#[derive(Clone, Debug)]
pub enum Drainer {
    Haproxy {
        sockets: Vec<String>,
        /// The inventory host that talks to the sockets (over SSH), if not the controller.
        via: Option<Box<crate::config::Host>>,
        backend: String,
        server: String,
        wait: DrainWait,
    },
    HealthFile {
        path: String,
        grace: std::time::Duration,
        port: u16,
        wait: DrainWait,
    },
}

/// Render the provider's strings with the host's values.
pub fn render(
    renderer: &Renderer,
    inv: &crate::config::Inventory,
    place: &str,
    provider: &DrainProvider,
    ctx: &minijinja::Value,
) -> Result<Drainer, RenderError> {
    let r = |field: &str, text: &str| renderer.render(&format!("{place} `{field}`"), text, ctx);
    Ok(match provider {
        DrainProvider::Haproxy(h) => Drainer::Haproxy {
            sockets: h
                .sockets
                .iter()
                .map(|s| r("socket", s))
                .collect::<Result<_, _>>()?,
            via: match &h.via {
                None => None,
                Some(name) => {
                    let name = r("via", name)?;
                    Some(Box::new(inv.host(&name).cloned().ok_or_else(|| {
                        RenderError {
                            place: format!("{place} `via`"),
                            message: format!("`{name}` is not a host of {}", inv.path.display()),
                        }
                    })?))
                }
            },
            backend: name(place, "backend", r("backend", &h.backend)?)?,
            server: name(place, "server", r("server", &h.server)?)?,
            wait: h.wait,
        },
        DrainProvider::HealthFile(f) => Drainer::HealthFile {
            path: r("path", &f.path)?,
            grace: f.grace,
            port: f.port,
            wait: f.wait,
        },
    })
}

impl Drainer {
    /// One line for plans (`ferry check`, `deploy --plan`): what drain
    /// (`out`) or undrain does.
    pub fn describe(&self, out: bool) -> String {
        match self {
            Drainer::Haproxy {
                sockets,
                via,
                backend,
                server,
                wait,
            } => {
                let on = via
                    .as_ref()
                    .map(|h| format!(" via {}", h.name))
                    .unwrap_or_default();
                let state = if out { "drain" } else { "ready" };
                let then = if out {
                    format!(
                        ", wait for 0 sessions and queue (at most {}, then {})",
                        humantime::format_duration(wait.timeout),
                        on_timeout(wait)
                    )
                } else {
                    String::new()
                };
                format!(
                    "haproxy  set server {backend}/{server} state {state} on {}{on}{then}",
                    sockets.join(", ")
                )
            }
            Drainer::HealthFile {
                path,
                grace,
                port,
                wait,
            } if out => format!(
                "health_file remove {path}, wait {}, then for 0 connections to port {port} (at most {}, then {})",
                humantime::format_duration(*grace),
                humantime::format_duration(wait.timeout),
                on_timeout(wait)
            ),
            Drainer::HealthFile { path, .. } => format!("health_file create {path}"),
        }
    }
}

/// A backend or server name as `HAProxy` allows it: anything else (a space,
/// a `;` that would start another runtime command) is refused here.
fn name(place: &str, field: &str, value: String) -> Result<String, RenderError> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(value)
    } else {
        Err(RenderError {
            place: format!("{place} `{field}`"),
            message: format!(
                "`{value}` is not a HAProxy name: use letters, digits, `-`, `_`, `.` and `:`"
            ),
        })
    }
}

fn on_timeout(wait: &DrainWait) -> &'static str {
    match wait.on_timeout {
        crate::config::probe::OnTimeout::Fail => "fail",
        crate::config::probe::OnTimeout::Continue => "continue",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::probe::OnTimeout;

    #[test]
    fn haproxy_names_cannot_carry_other_commands() {
        for good in ["app", "h1", "web-1.example:x", "A_b"] {
            assert_eq!(name("p", "server", good.into()).unwrap(), good);
        }
        for bad in [
            "",
            "h1; set server app/h2 state maint",
            "h 1",
            "h1\n",
            "a/b",
        ] {
            let err = name("p", "server", bad.into()).unwrap_err();
            assert_eq!(err.place, "p `server`");
            assert!(err.message.contains("is not a HAProxy name"), "{bad:?}");
        }
    }

    #[test]
    fn plans_say_what_a_provider_does() {
        let wait = DrainWait {
            timeout: Duration::from_secs(30),
            interval: Duration::from_millis(500),
            on_timeout: OnTimeout::Fail,
        };
        let lb = Drainer::Haproxy {
            sockets: vec!["/run/a.sock".into(), "127.0.0.5:9999".into()],
            via: None,
            backend: "app".into(),
            server: "h1".into(),
            wait,
        };
        assert_eq!(
            lb.describe(true),
            "haproxy  set server app/h1 state drain on /run/a.sock, 127.0.0.5:9999, wait for 0 \
             sessions and queue (at most 30s, then fail)"
        );
        assert_eq!(
            lb.describe(false),
            "haproxy  set server app/h1 state ready on /run/a.sock, 127.0.0.5:9999"
        );
        let file = Drainer::HealthFile {
            path: "/srv/healthy".into(),
            grace: Duration::from_secs(6),
            port: 8080,
            wait,
        };
        assert_eq!(
            file.describe(true),
            "health_file remove /srv/healthy, wait 6s, then for 0 connections to port 8080 (at \
             most 30s, then fail)"
        );
        assert_eq!(file.describe(false), "health_file create /srv/healthy");
    }
}
