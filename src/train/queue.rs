//! Runs that follow each other — an A/B pair, a lesson's runs, the command line's `lesson`, a
//! sweep — through one queue with one explicit rule for whether the next run starts when the
//! previous one ends.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::experiment::RunStatus;

/// When a queue goes on after one of its runs ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContinueRule {
    /// Only after a run that ended as planned (completed or early-stopped); a stopped,
    /// diverged or failed run cancels the rest. For comparisons whose point is lost when one
    /// side is missing (A/B).
    AfterSuccess,
    /// After any run the user did not stop: a diverged or failed run is an outcome to look at,
    /// not a reason to skip the rest (lessons show a learning rate that diverges on purpose).
    UnlessStopped,
}

impl ContinueRule {
    /// Whether the next run starts after one that ended with `status`.
    pub fn continues_after(self, status: RunStatus) -> bool {
        match self {
            Self::AfterSuccess => matches!(status, RunStatus::Completed | RunStatus::EarlyStopped),
            Self::UnlessStopped => !matches!(status, RunStatus::Stopped | RunStatus::Running),
        }
    }
}

/// Runs to train one after the other. The caller starts each run it is handed and reports how
/// it ended; the queue decides whether there is a next one.
#[derive(Debug, Clone, PartialEq)]
pub struct RunQueue<T> {
    rule: ContinueRule,
    waiting: VecDeque<T>,
    started: usize,
    total: usize,
    /// Whether a run of the queue is in progress (started and not yet reported as ended).
    running: bool,
}

impl<T> Default for RunQueue<T> {
    fn default() -> Self {
        Self {
            rule: ContinueRule::AfterSuccess,
            waiting: VecDeque::new(),
            started: 0,
            total: 0,
            running: false,
        }
    }
}

impl<T> RunQueue<T> {
    /// A queue of `runs` under `rule`; nothing has started yet.
    pub fn new(rule: ContinueRule, runs: impl IntoIterator<Item = T>) -> Self {
        let waiting: VecDeque<T> = runs.into_iter().collect();
        Self {
            rule,
            total: waiting.len(),
            waiting,
            started: 0,
            running: false,
        }
    }

    /// The first run, to be started now.
    pub fn start(&mut self) -> Option<T> {
        self.take_next()
    }

    /// The run in progress ended with `status`: the next run to start now, or `None` when the
    /// queue is done or the rule ends it (then nothing else follows).
    pub fn on_finished(&mut self, status: RunStatus) -> Option<T> {
        if !self.running {
            return None;
        }
        self.running = false;
        if self.rule.continues_after(status) {
            self.take_next()
        } else {
            self.waiting.clear();
            None
        }
    }

    /// The run in progress could not be started after all: nothing follows it.
    pub fn cancel(&mut self) {
        self.waiting.clear();
        self.running = false;
    }

    /// Whether a run of the queue is in progress or more are waiting.
    pub fn is_active(&self) -> bool {
        self.running || !self.waiting.is_empty()
    }

    /// Runs waiting after the one in progress.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Which run is in progress (1-based) out of how many, while the queue is active.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.is_active().then_some((self.started, self.total))
    }

    fn take_next(&mut self) -> Option<T> {
        let next = self.waiting.pop_front()?;
        self.started += 1;
        self.running = true;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_says_which_endings_go_on() {
        use RunStatus::*;
        let table = [
            (Completed, true, true),
            (EarlyStopped, true, true),
            (Diverged, false, true),
            (Failed, false, true),
            (Stopped, false, false),
        ];
        for (status, after_success, unless_stopped) in table {
            assert_eq!(
                ContinueRule::AfterSuccess.continues_after(status),
                after_success,
                "{status}"
            );
            assert_eq!(
                ContinueRule::UnlessStopped.continues_after(status),
                unless_stopped,
                "{status}"
            );
        }
    }

    #[test]
    fn runs_come_in_order_and_the_position_counts_them() {
        let mut queue = RunQueue::new(ContinueRule::UnlessStopped, ["a", "b", "c"]);
        assert_eq!(queue.position(), Some((0, 3)));
        assert_eq!(queue.start(), Some("a"));
        assert_eq!(queue.position(), Some((1, 3)));
        assert_eq!(queue.waiting(), 2);
        assert_eq!(queue.on_finished(RunStatus::Diverged), Some("b"));
        assert_eq!(queue.on_finished(RunStatus::Completed), Some("c"));
        assert_eq!(queue.position(), Some((3, 3)));
        assert_eq!(queue.on_finished(RunStatus::Completed), None);
        assert!(!queue.is_active());
        assert_eq!(queue.position(), None);
        // An ending reported twice (or with nothing running) starts nothing.
        assert_eq!(queue.on_finished(RunStatus::Completed), None);
    }

    #[test]
    fn a_run_that_breaks_the_rule_ends_the_queue() {
        let mut ab = RunQueue::new(ContinueRule::AfterSuccess, [1, 2]);
        assert_eq!(ab.start(), Some(1));
        assert_eq!(ab.on_finished(RunStatus::Failed), None);
        assert!(!ab.is_active());
        let mut lesson = RunQueue::new(ContinueRule::UnlessStopped, [1, 2, 3]);
        assert_eq!(lesson.start(), Some(1));
        assert_eq!(lesson.on_finished(RunStatus::Stopped), None);
        assert_eq!(lesson.waiting(), 0);
        let mut cancelled = RunQueue::new(ContinueRule::UnlessStopped, [1, 2]);
        cancelled.start();
        cancelled.cancel();
        assert!(!cancelled.is_active());
        assert!(RunQueue::<u8>::default().start().is_none());
    }
}
