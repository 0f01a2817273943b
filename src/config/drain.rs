//! The playbook's `drain:` field: either a list of tasks (the `command`
//! provider, run as the drain stage) or a map naming a built-in provider
//! (`haproxy`, `health_file`) whose undrain is implied.

use std::fmt;
use std::time::Duration;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::probe::OnTimeout;
use super::values::Span;

/// How long a provider waits for sessions to end unless told.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// `drain:` as written: a task list or a provider map.
#[derive(Debug)]
pub(super) enum DrainField<T> {
    Tasks(Vec<Spanned<T>>),
    Provider(ProviderFile),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for DrainField<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = DrainField<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a list of tasks, or a provider such as `{ provider: haproxy, socket: ..., \
                     backend: ..., server: ... }` or `{ provider: health_file, path: ..., port: ... }`",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(DrainField::Tasks)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ProviderFile::deserialize(MapAccessDeserializer::new(map)).map(DrainField::Provider)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(DrainField::Tasks(Vec::new()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum ProviderFile {
    Haproxy {
        socket: Option<String>,
        #[serde(default)]
        sockets: Vec<String>,
        via: Option<String>,
        backend: String,
        server: Option<String>,
        timeout: Option<Span>,
        interval: Option<Span>,
        #[serde(default)]
        on_timeout: OnTimeout,
    },
    HealthFile {
        path: String,
        grace: Option<Span>,
        port: u16,
        timeout: Option<Span>,
        interval: Option<Span>,
        #[serde(default)]
        on_timeout: OnTimeout,
    },
}

/// A built-in drain provider, strings still templates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DrainProvider {
    /// `HAProxy`'s runtime API: `set server B/S state drain`, wait for the
    /// server's sessions and queue to reach 0; undrain `state ready`.
    Haproxy(HaproxySpec),
    /// Remove a file the balancer's health check reads, wait `grace`, then
    /// for established connections to `port` to end; undrain recreates it.
    HealthFile(HealthFileSpec),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaproxySpec {
    /// Admin sockets: a path (unix socket) or `host:port`; all are drained together.
    pub sockets: Vec<String>,
    /// An inventory host (a template) that talks to the sockets, over SSH with socat.
    pub via: Option<String>,
    pub backend: String,
    pub server: String,
    pub wait: DrainWait,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthFileSpec {
    pub path: String,
    pub grace: Duration,
    pub port: u16,
    pub wait: DrainWait,
}

/// How long and how often a provider waits for sessions to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainWait {
    pub timeout: Duration,
    pub interval: Duration,
    pub on_timeout: OnTimeout,
}

fn wait(timeout: Option<Span>, interval: Option<Span>, on_timeout: OnTimeout) -> DrainWait {
    DrainWait {
        timeout: timeout.map_or(DEFAULT_DRAIN_TIMEOUT, |s| s.0),
        interval: interval.map_or(Duration::from_millis(500), |s| s.0),
        on_timeout,
    }
}

impl ProviderFile {
    /// Check the provider; the message is completed with file and line by the caller.
    pub(super) fn resolve(self) -> Result<DrainProvider, String> {
        match self {
            ProviderFile::Haproxy {
                socket,
                sockets,
                via,
                backend,
                server,
                timeout,
                interval,
                on_timeout,
            } => {
                let sockets: Vec<String> = socket.into_iter().chain(sockets).collect();
                if sockets.is_empty() {
                    return Err("haproxy drain needs `socket: /run/haproxy/admin.sock` (or \
                                `host:port`, or `sockets: [...]` for several HAProxy)"
                        .into());
                }
                if sockets.iter().any(|s| s.trim().is_empty()) {
                    return Err("haproxy drain: a socket is empty".into());
                }
                if via.is_some() && sockets.iter().any(|s| s.contains(',') || s.contains('!')) {
                    return Err(
                        "haproxy drain: with `via`, a socket cannot contain `,` or `!` \
                                (socat reads them as address syntax)"
                            .into(),
                    );
                }
                if backend.trim().is_empty() {
                    return Err("haproxy drain: `backend` is empty".into());
                }
                Ok(DrainProvider::Haproxy(HaproxySpec {
                    sockets,
                    via,
                    backend,
                    server: server.unwrap_or_else(|| "{{ host.name }}".into()),
                    wait: wait(timeout, interval, on_timeout),
                }))
            }
            ProviderFile::HealthFile {
                path,
                grace,
                port,
                timeout,
                interval,
                on_timeout,
            } => {
                if path.trim().is_empty() {
                    return Err("health_file drain: `path` is empty".into());
                }
                if port == 0 {
                    return Err("health_file drain: `port` must be the app's port (1-65535)".into());
                }
                Ok(DrainProvider::HealthFile(HealthFileSpec {
                    path,
                    grace: grace.map_or(Duration::ZERO, |s| s.0),
                    port,
                    wait: wait(timeout, interval, on_timeout),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Playbook;

    fn load(text: &str) -> Result<Playbook, String> {
        Playbook::load_from_str(Path::new("pb.yml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn drain_is_tasks_or_a_provider() {
        let pb = load(
            "drain:\n  - name: out\n    run: echo out\nundrain:\n  - name: in\n    run: echo in\n",
        )
        .unwrap();
        assert_eq!((pb.drain.len(), pb.undrain.len()), (1, 1));
        assert_eq!(pb.drain_provider, None);

        let pb = load("drain:\n  provider: haproxy\n  sockets: [/run/a.sock, \"127.0.0.1:9999\"]\n  backend: app\n  timeout: 5s\n  on_timeout: continue\n").unwrap();
        assert!(pb.drain.is_empty());
        assert_eq!(
            pb.drain_provider,
            Some(DrainProvider::Haproxy(HaproxySpec {
                sockets: vec!["/run/a.sock".into(), "127.0.0.1:9999".into()],
                via: None,
                backend: "app".into(),
                server: "{{ host.name }}".into(),
                wait: DrainWait {
                    timeout: Duration::from_secs(5),
                    interval: Duration::from_millis(500),
                    on_timeout: OnTimeout::Continue,
                },
            }))
        );

        let pb =
            load("drain: { provider: health_file, path: /srv/healthy, grace: 6s, port: 8080 }\n")
                .unwrap();
        assert_eq!(
            pb.drain_provider,
            Some(DrainProvider::HealthFile(HealthFileSpec {
                path: "/srv/healthy".into(),
                grace: Duration::from_secs(6),
                port: 8080,
                wait: DrainWait {
                    timeout: DEFAULT_DRAIN_TIMEOUT,
                    interval: Duration::from_millis(500),
                    on_timeout: OnTimeout::Fail,
                },
            }))
        );
    }

    #[test]
    fn a_bad_provider_says_what_to_write() {
        let cases = [
            ("drain: { provider: nginx }\n", "unknown value `nginx` (valid values: haproxy, health_file)"),
            ("drain: { provider: haproxy, backend: app }\n", "needs `socket:"),
            ("drain: { provider: haproxy, socket: /s, backend: app, sever: x }\n", "sever"),
            ("drain: { provider: haproxy, socket: /s }\n", "backend"),
            ("drain: { provider: haproxy, socket: '/a,b', backend: app, via: lb1 }\n", "cannot contain"),
            ("drain: { provider: haproxy, socket: /s, backend: app, timeout: soon }\n", "soon"),
            ("drain: { provider: health_file, path: /h }\n", "port"),
            ("drain: { provider: health_file, path: /h, port: 0 }\n", "`port` must be"),
            (
                "drain: { provider: health_file, path: /h, port: 80 }\nundrain:\n  - name: in\n    run: x\n",
                "remove `undrain:`",
            ),
        ];
        for (text, want) in cases {
            let err = load(text).unwrap_err();
            assert!(err.contains("pb.yml:1"), "{text}: {err}");
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
