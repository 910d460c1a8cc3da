//! The manual Autopilot sync (`windowsAutopilotSettings/sync`): its state and whether another may start.
//!
//! Both are derived from the last trigger time alone (a sync runs for `duration_ms` after it is triggered
//! and has completed after that), so every node answers the same without a background job.

use crate::Timestamp;

/// How long a sync runs and how soon another may be triggered, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncPolicy {
    pub duration_ms: i64,
    pub throttle_ms: i64,
}

/// `syncStatus`, with Graph's wire names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncStatus {
    Unknown,
    InProgress,
    Completed,
}

impl SyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::InProgress => "inProgress",
            Self::Completed => "completed",
        }
    }
}

/// What `windowsAutopilotSettings` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncState {
    /// When the last sync completed; `None` while one runs or before the first.
    pub last_sync: Option<Timestamp>,
    pub last_trigger: Option<Timestamp>,
    pub status: SyncStatus,
}

/// The answer to a request for a manual sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncTrigger {
    Started,
    /// The previous sync has not completed yet.
    AlreadyRunning,
    /// The previous sync was triggered within the throttle window; whole seconds until it closes.
    Throttled {
        retry_after_secs: i64,
    },
}

/// The state at `now` given the last trigger.
pub fn sync_state(
    last_trigger: Option<Timestamp>,
    now: Timestamp,
    policy: SyncPolicy,
) -> SyncState {
    let Some(at) = last_trigger else {
        return SyncState {
            last_sync: None,
            last_trigger: None,
            status: SyncStatus::Unknown,
        };
    };
    let done = at.plus_millis(policy.duration_ms);
    let running = now < done;
    SyncState {
        last_sync: (!running).then_some(done),
        last_trigger: Some(at),
        status: if running {
            SyncStatus::InProgress
        } else {
            SyncStatus::Completed
        },
    }
}

/// Whether a sync requested at `now` may start: a running sync refuses first, then the throttle window.
pub fn decide_trigger(
    last_trigger: Option<Timestamp>,
    now: Timestamp,
    policy: SyncPolicy,
) -> SyncTrigger {
    let Some(at) = last_trigger else {
        return SyncTrigger::Started;
    };
    if sync_state(last_trigger, now, policy).status == SyncStatus::InProgress {
        return SyncTrigger::AlreadyRunning;
    }
    let allowed = at.plus_millis(policy.throttle_ms);
    if now < allowed {
        // Rounded up, so a client that waits exactly this long is let through.
        let remaining = allowed.0.saturating_sub(now.0);
        return SyncTrigger::Throttled {
            retry_after_secs: remaining.saturating_add(999) / 1000,
        };
    }
    SyncTrigger::Started
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: SyncPolicy = SyncPolicy {
        duration_ms: 5_000,
        throttle_ms: 600_000,
    };
    const T0: Timestamp = Timestamp(1_800_000_000_000);

    #[test]
    fn never_triggered_is_unknown_and_may_start() {
        let state = sync_state(None, T0, POLICY);
        assert_eq!(state.status, SyncStatus::Unknown);
        assert_eq!((state.last_sync, state.last_trigger), (None, None));
        assert_eq!(decide_trigger(None, T0, POLICY), SyncTrigger::Started);
    }

    #[test]
    fn a_sync_runs_for_its_duration() {
        let now = T0.plus_millis(4_999);
        let state = sync_state(Some(T0), now, POLICY);
        assert_eq!(state.status, SyncStatus::InProgress);
        assert_eq!(state.last_sync, None);
        assert_eq!(state.last_trigger, Some(T0));
        assert_eq!(
            decide_trigger(Some(T0), now, POLICY),
            SyncTrigger::AlreadyRunning
        );
    }

    #[test]
    fn completed_sync_reports_its_end() {
        let state = sync_state(Some(T0), T0.plus_millis(5_000), POLICY);
        assert_eq!(state.status, SyncStatus::Completed);
        assert_eq!(state.last_sync, Some(T0.plus_millis(5_000)));
    }

    #[test]
    fn throttled_until_the_window_closes_with_seconds_rounded_up() {
        assert_eq!(
            decide_trigger(Some(T0), T0.plus_millis(5_000), POLICY),
            SyncTrigger::Throttled {
                retry_after_secs: 595
            }
        );
        assert_eq!(
            decide_trigger(Some(T0), T0.plus_millis(599_001), POLICY),
            SyncTrigger::Throttled {
                retry_after_secs: 1
            }
        );
        assert_eq!(
            decide_trigger(Some(T0), T0.plus_millis(10_500), POLICY),
            SyncTrigger::Throttled {
                retry_after_secs: 590
            }
        );
    }

    #[test]
    fn allowed_again_after_the_window() {
        assert_eq!(
            decide_trigger(Some(T0), T0.plus_millis(600_000), POLICY),
            SyncTrigger::Started
        );
        assert_eq!(
            decide_trigger(Some(T0), T0.plus_millis(3_600_000), POLICY),
            SyncTrigger::Started
        );
    }

    #[test]
    fn running_wins_over_throttle_when_the_window_is_shorter() {
        let policy = SyncPolicy {
            duration_ms: 10_000,
            throttle_ms: 1_000,
        };
        assert_eq!(
            decide_trigger(Some(T0), T0.plus_millis(2_000), policy),
            SyncTrigger::AlreadyRunning
        );
    }
}
