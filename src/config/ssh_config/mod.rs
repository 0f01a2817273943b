//! `ssh_config`: ferry looks a host up the way `ssh NAME` would (issue 13).
//! A small strict reader of its own ([`parse`]), OpenSSH's first-value-wins
//! resolution ([`resolve`]), and the merge with the inventory by precedence,
//! keeping where each setting came from ([`apply`]).

pub mod apply;
mod keywords;
pub mod parse;
#[cfg(test)]
mod prop_tests;
pub mod resolve;
#[cfg(test)]
mod ssh_g_tests;
#[cfg(test)]
mod tests;
mod values;

use std::path::{Path, PathBuf};

pub use apply::{Effective, Origin, SshOrigin};
use parse::{IncludeBase, Item, Place};
pub use resolve::Resolved;

use super::ConfigError;

/// OpenSSH's system-wide file, read after the user's.
pub const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";

#[derive(Debug, thiserror::Error)]
pub enum SshConfigError {
    #[error("{place}: {message}")]
    At { place: Place, message: String },
    #[error("{}: {reason}", file.display())]
    Read { file: PathBuf, reason: String },
    /// A file the inventory names does not exist.
    #[error("{}: no such ssh_config file", .0.display())]
    Missing(PathBuf),
}

impl SshConfigError {
    pub(crate) fn at(place: &Place, message: impl Into<String>) -> SshConfigError {
        SshConfigError::At {
            place: place.clone(),
            message: message.into(),
        }
    }
}

impl From<SshConfigError> for ConfigError {
    fn from(err: SshConfigError) -> ConfigError {
        match err {
            SshConfigError::At { place, message } => ConfigError {
                line: Some(u64::from(place.line)).filter(|l| *l > 0),
                ..ConfigError::new(&place.file, message)
            },
            SshConfigError::Read { file, reason } => ConfigError::new(&file, reason),
            SshConfigError::Missing(file) => ConfigError::new(&file, "no such ssh_config file"),
        }
    }
}

/// Which files to read: the inventory's `ssh: { config: ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `~/.ssh/config` if it exists, then `/etc/ssh/ssh_config` if it exists.
    Default,
    /// These files (each must exist), then `/etc/ssh/ssh_config` if it exists.
    Files(Vec<PathBuf>),
    /// `config: none`: no `ssh_config` at all.
    Off,
}

/// The files read, as items, one list per top-level file.
#[derive(Clone, Debug, Default)]
pub struct SshConfig {
    files: Vec<Vec<Item>>,
    /// The top-level files read, in order (for `ferry check --ssh`).
    pub read: Vec<PathBuf>,
}

impl SshConfig {
    pub fn load(source: &Source, home: &Path) -> Result<SshConfig, SshConfigError> {
        Self::load_with_system(source, home, Path::new(SYSTEM_CONFIG))
    }

    /// [`SshConfig::load`] with another system file (tests).
    pub fn load_with_system(
        source: &Source,
        home: &Path,
        system: &Path,
    ) -> Result<SshConfig, SshConfigError> {
        let mut config = SshConfig::default();
        let user_dir = home.join(".ssh");
        let user = IncludeBase {
            dir: &user_dir,
            home,
        };
        match source {
            Source::Off => return Ok(config),
            Source::Default => config.read_if_exists(&user_dir.join("config"), &user)?,
            Source::Files(files) => {
                for file in files {
                    let file = expand_tilde(file, home);
                    if !file.exists() {
                        return Err(SshConfigError::Missing(file));
                    }
                    config.read(&file, &user)?;
                }
            }
        }
        let system_dir = system.parent().unwrap_or(Path::new("/"));
        let base = IncludeBase {
            dir: system_dir,
            home,
        };
        config.read_if_exists(system, &base)?;
        Ok(config)
    }

    fn read(&mut self, file: &Path, base: &IncludeBase<'_>) -> Result<(), SshConfigError> {
        self.files.push(parse::read_file(file, base)?);
        self.read.push(file.to_path_buf());
        Ok(())
    }

    fn read_if_exists(
        &mut self,
        file: &Path,
        base: &IncludeBase<'_>,
    ) -> Result<(), SshConfigError> {
        if file.exists() {
            self.read(file, base)?;
        }
        Ok(())
    }

    /// What the files say about `name`, as `ssh NAME` would read them.
    pub fn resolve(&self, name: &str) -> Result<Resolved, SshConfigError> {
        resolve::resolve(&self.files, name)
    }

    /// Parse `text` as one file named `file` (tests, fuzzing); `Include`
    /// is relative to `home/.ssh`.
    pub fn from_text(file: &Path, text: &str, home: &Path) -> Result<SshConfig, SshConfigError> {
        let dir = home.join(".ssh");
        let base = IncludeBase { dir: &dir, home };
        Ok(SshConfig {
            files: vec![parse::parse_text(file, text, &base)?],
            read: vec![file.to_path_buf()],
        })
    }
}

/// `~/x` under `home`; other paths as written (relative to the project).
pub fn expand_tilde(path: &Path, home: &Path) -> PathBuf {
    match path.to_str().and_then(|p| p.strip_prefix("~/")) {
        Some(rest) => home.join(rest),
        None if path == Path::new("~") => home.to_path_buf(),
        None => path.to_path_buf(),
    }
}

/// The controller's home and login as OpenSSH finds them: from the passwd
/// entry of the real user id, not `$HOME` (ssh.c uses `getpwuid(getuid())`
/// for `~/.ssh/config`, `~` and `%d`/`%u`); `$HOME`/`$USER` only when there
/// is no entry.
pub fn local_account() -> (PathBuf, String) {
    let uid = nix::unistd::getuid();
    if let Ok(Some(user)) = nix::unistd::User::from_uid(uid) {
        return (user.dir, user.name);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    let name = std::env::var("USER").unwrap_or_else(|_| uid.to_string());
    (home, name)
}

/// The inventory's `ssh: { config: ... }`: a path, a list of paths, or
/// `none`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigFiles {
    One(String),
    Many(Vec<String>),
}

impl<'de> serde::Deserialize<'de> for ConfigFiles {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ConfigFiles, D::Error> {
        struct Files;
        impl<'de> serde::de::Visitor<'de> for Files {
            type Value = ConfigFiles;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an ssh_config path, a list of paths, or `none`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ConfigFiles, E> {
                Ok(ConfigFiles::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ConfigFiles, A::Error> {
                let mut files = Vec::new();
                while let Some(file) = seq.next_element::<String>()? {
                    files.push(file);
                }
                Ok(ConfigFiles::Many(files))
            }
        }
        d.deserialize_any(Files)
    }
}

impl ConfigFiles {
    pub fn source(files: Option<&ConfigFiles>) -> Source {
        match files {
            None => Source::Default,
            Some(ConfigFiles::One(none)) if none == "none" => Source::Off,
            Some(ConfigFiles::One(one)) => Source::Files(vec![PathBuf::from(one)]),
            Some(ConfigFiles::Many(many)) => {
                Source::Files(many.iter().map(PathBuf::from).collect())
            }
        }
    }
}

/// The `ssh_config` an inventory asks for, read once, with the
/// controller's home and login.
pub struct ForInventory {
    pub config: SshConfig,
    home: PathBuf,
    login: String,
}

/// Read the files the inventory at `path` asks for.
pub fn for_inventory(
    path: &Path,
    files: Option<&ConfigFiles>,
) -> Result<ForInventory, ConfigError> {
    let (home, login) = local_account();
    let config = SshConfig::load(&ConfigFiles::source(files), &home).map_err(|e| match e {
        SshConfigError::Missing(file) => ConfigError::new(
            path,
            format!(
                "ssh.config names {}, which does not exist (write an existing file, or `none`)",
                file.display()
            ),
        ),
        other => other.into(),
    })?;
    Ok(ForInventory {
        config,
        home,
        login,
    })
}

impl ForInventory {
    /// The hops of a `ProxyJump` value written in the inventory (e.g. its
    /// `proxy_jump:`), each resolved through `ssh_config` (see
    /// [`apply::jumps`]); the inventory's path names it in errors.
    pub fn jumps(
        &self,
        inv: &apply::InventorySsh,
        host: &str,
        text: &str,
        default_user: &str,
    ) -> Result<Vec<crate::config::Jump>, ConfigError> {
        let local = apply::Local {
            config: &self.config,
            home: &self.home,
            login: &self.login,
            default_user,
        };
        Ok(apply::jumps(&local, inv, host, text, &inv.path)?)
    }

    /// One host's effective settings (see [`apply::apply`]).
    pub fn apply(
        &self,
        inv: &apply::InventorySsh,
        entry: &apply::HostEntry<'_>,
        default_user: &str,
    ) -> Result<Effective, ConfigError> {
        let local = apply::Local {
            config: &self.config,
            home: &self.home,
            login: &self.login,
            default_user,
        };
        Ok(apply::apply(&local, inv, entry)?)
    }
}
