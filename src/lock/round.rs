//! One round of lock scripts, their answers sorted: taken (or taken over),
//! held by another run, or not locked (and why).

use std::collections::HashMap;

use super::answer::{parse_answer, shown, Answer};
use super::{Holder, Read};
use crate::config::Host;
use crate::executor::{HostStatus, TaskFailure};

#[derive(Default)]
pub(super) struct Round {
    /// Locked by this run.
    pub(super) taken: Vec<Host>,
    /// Taken or not, ours to give back if we cannot tell.
    pub(super) give_back: Vec<Host>,
    pub(super) reads: HashMap<String, Read>,
    /// Hosts whose lock another run holds.
    pub(super) others: Vec<(Host, Holder)>,
}

impl Round {
    /// Sort one host's answer; whether it says the lock was taken over.
    pub(super) fn add(
        &mut self,
        host: &Host,
        result: Result<String, HostStatus>,
        run_id: &str,
    ) -> bool {
        let mut taken_over = false;
        let read = match result.map(|out| (parse_answer(&out, run_id), out)) {
            Ok((Answer::TakenOver(out), _)) => {
                taken_over = true;
                self.taken.push(host.clone());
                Read::Locked(out)
            }
            Ok((Answer::Taken(out), _)) => {
                self.taken.push(host.clone());
                Read::Locked(out)
            }
            Ok((Answer::Held(holder), _)) => {
                self.others.push((host.clone(), holder));
                return false;
            }
            Ok((Answer::Free | Answer::Unrecognised, out)) => {
                self.give_back.push(host.clone());
                let why = format!("unrecognised answer while taking the lock: {}", shown(&out));
                Read::NotLocked(HostStatus::Failed(Box::new(TaskFailure::plain(
                    &host.name, "lock", &why,
                ))))
            }
            Err(status) => Read::NotLocked(status),
        };
        self.reads.insert(host.name.clone(), read);
        taken_over
    }
}
