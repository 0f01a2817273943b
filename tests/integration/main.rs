//! One integration binary: every test drives the real `ferry` binary against
//! real OpenSSH sshd processes on loopback.

mod support;

mod fleet_selftest;
