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
            backend: r("backend", &h.backend)?,
            server: r("server", &h.server)?,
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
