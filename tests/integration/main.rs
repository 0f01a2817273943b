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
mod first_steps;
mod fleet_selftest;
mod guidance;
mod host_keys;
mod host_processes;
mod hostile;
mod lock_renewals;
mod locks;
mod patience;
mod promote;
mod readme;
mod releases;
mod rollback_drain;
mod rolling;
mod run;
mod security;
mod ssh_config;
mod status;
mod sudo;
mod terminal;
mod timeline;
mod trips;
mod trust;
mod vagrant;
mod windows;
mod yaml_errors;
mod zero_downtime;
