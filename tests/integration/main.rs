//! One integration binary: every test drives the real `ferry` binary against
//! real OpenSSH sshd processes on loopback.

mod support;

mod apps_selftest;
mod auth;
mod bastion;
mod ci_mode;
mod config_errors;
mod drain;
mod failures;
mod fleet_selftest;
mod host_keys;
mod host_processes;
mod hostile;
mod locks;
mod patience;
mod promote;
mod releases;
mod rollback_drain;
mod rolling;
mod run;
mod security;
mod ssh_config;
mod sudo;
mod trust;
mod vagrant;
mod windows;
mod zero_downtime;
