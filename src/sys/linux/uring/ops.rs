//! The life of one io_uring send request ("op"), as pure logic: no io_uring in here.
//!
//! Every op is in exactly one [`OpState`]. A completion moves it along the table below; a
//! completion the table has no row for (a second result, a notification for an op that awaits
//! none, a result for a free op) is *stray*: the caller counts it and changes nothing.
//!
//! | state             | event                    | next              | effect  |
//! |-------------------|--------------------------|-------------------|---------|
//! | Free              | submit                   | InFlight          |         |
//! | Free              | split off a refused op   | QueuedRetry       |         |
//! | QueuedRetry       | resubmit                 | InFlight          |         |
//! | InFlight          | result sent              | Free              | release |
//! | InFlight          | result sent, notif due   | AwaitNotif        |         |
//! | InFlight          | result retry             | QueuedRetry       | queue   |
//! | InFlight          | result retry, notif due  | FailedAwaitNotif  |         |
//! | InFlight          | result dropped           | Free              | release |
//! | InFlight          | result dropped, notif due| DroppedAwaitNotif |         |
//! | InFlight (ZC)     | notification             | NotifFirst        |         |
//! | NotifFirst        | result sent or dropped   | Free              | release |
//! | NotifFirst        | result retry             | QueuedRetry       | queue   |
//! | AwaitNotif        | notification             | Free              | release |
//! | FailedAwaitNotif  | notification             | QueuedRetry       | queue   |
//! | DroppedAwaitNotif | notification             | Free              | release |
//!
//! "notif due": a zero-copy notification will follow the result (F_MORE, or a zero-copy request
//! cancelled by a broken link). "retry": a recoverable send error or a cancelled follower (the
//! packets go again, in order). "dropped": a fatal error, or a cancellation that ends the stream
//! (the packets count as failed).

/// Where an op is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpState {
    /// Not in use.
    Free,
    /// Submitted (this generation); its result has not arrived.
    InFlight,
    /// Zero-copy, submitted; the notification arrived before the result.
    NotifFirst,
    /// Zero-copy send done; the kernel may still read the buffers until the notification.
    AwaitNotif,
    /// Zero-copy send failed recoverably; resent only once the notification says the kernel
    /// let go of the request.
    FailedAwaitNotif,
    /// Zero-copy send failed for good; released once the notification arrives.
    DroppedAwaitNotif,
    /// Waiting in the retry queue to be submitted again, before any new packet.
    QueuedRetry,
}

impl OpState {
    /// Every state, for per-state counts.
    pub(crate) const ALL: [OpState; 7] = [
        OpState::Free,
        OpState::InFlight,
        OpState::NotifFirst,
        OpState::AwaitNotif,
        OpState::FailedAwaitNotif,
        OpState::DroppedAwaitNotif,
        OpState::QueuedRetry,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The kernel still holds (or may touch) the request's buffers.
    pub(crate) fn kernel_holds(self) -> bool {
        !matches!(self, OpState::Free | OpState::QueuedRetry)
    }
}

/// What a result CQE says happened to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The packets left.
    Sent,
    /// A recoverable error: send the packets again.
    Retry,
    /// A fatal error, or cancelled at the end of the stream: the packets count as failed.
    Dropped,
}

/// What the caller must do after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing yet (a notification is still due).
    Wait,
    /// The kernel is done with the buffers: hand the slots back.
    Release,
    /// Put the op in the retry queue.
    Queue,
}

/// A completion that the state machine has no transition for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stray;

/// The transition for a result CQE. `more`: a notification will follow.
pub(crate) fn on_result(
    state: OpState,
    outcome: Outcome,
    more: bool,
) -> Result<(OpState, Effect), Stray> {
    use {Effect as E, OpState as S, Outcome as O};
    Ok(match (state, outcome, more) {
        (S::InFlight, O::Sent, false) => (S::Free, E::Release),
        (S::InFlight, O::Sent, true) => (S::AwaitNotif, E::Wait),
        (S::InFlight, O::Retry, false) => (S::QueuedRetry, E::Queue),
        (S::InFlight, O::Retry, true) => (S::FailedAwaitNotif, E::Wait),
        (S::InFlight, O::Dropped, false) => (S::Free, E::Release),
        (S::InFlight, O::Dropped, true) => (S::DroppedAwaitNotif, E::Wait),
        (S::NotifFirst, O::Sent | O::Dropped, _) => (S::Free, E::Release),
        (S::NotifFirst, O::Retry, _) => (S::QueuedRetry, E::Queue),
        _ => return Err(Stray),
    })
}

/// The transition for a notification CQE. `zc` says whether the op was submitted zero-copy.
pub(crate) fn on_notif(state: OpState, zc: bool) -> Result<(OpState, Effect), Stray> {
    use {Effect as E, OpState as S};
    Ok(match state {
        S::InFlight if zc => (S::NotifFirst, E::Wait),
        S::AwaitNotif => (S::Free, E::Release),
        S::FailedAwaitNotif => (S::QueuedRetry, E::Queue),
        S::DroppedAwaitNotif => (S::Free, E::Release),
        _ => return Err(Stray),
    })
}

/// `user_data` of every send SQE: the op index in the low 32 bits, the op's generation (bumped
/// on every submission) in the high 32, so a completion for an earlier submission is told apart.
pub(crate) fn user_data(index: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(index)
}

/// Splits a `user_data` into (index, generation).
pub(crate) fn split_user_data(ud: u64) -> (u32, u32) {
    (ud as u32, (ud >> 32) as u32)
}

/// `user_data` of the backend's own cancel requests; never an op (generations start at 1 and
/// the index never reaches u32::MAX).
pub(crate) const CANCEL_USER_DATA: u64 = u64::MAX;

#[cfg(test)]
mod tests {
    use super::*;
    use {Effect as E, OpState as S, Outcome as O};

    #[test]
    fn every_result_transition() {
        let rows = [
            (S::InFlight, O::Sent, false, S::Free, E::Release),
            (S::InFlight, O::Sent, true, S::AwaitNotif, E::Wait),
            (S::InFlight, O::Retry, false, S::QueuedRetry, E::Queue),
            (S::InFlight, O::Retry, true, S::FailedAwaitNotif, E::Wait),
            (S::InFlight, O::Dropped, false, S::Free, E::Release),
            (S::InFlight, O::Dropped, true, S::DroppedAwaitNotif, E::Wait),
            (S::NotifFirst, O::Sent, true, S::Free, E::Release),
            (S::NotifFirst, O::Sent, false, S::Free, E::Release),
            (S::NotifFirst, O::Retry, true, S::QueuedRetry, E::Queue),
            (S::NotifFirst, O::Dropped, true, S::Free, E::Release),
        ];
        for (s, o, more, next, eff) in rows {
            assert_eq!(on_result(s, o, more), Ok((next, eff)), "{s:?} {o:?} {more}");
        }
    }

    #[test]
    fn every_notif_transition() {
        assert_eq!(on_notif(S::InFlight, true), Ok((S::NotifFirst, E::Wait)));
        assert_eq!(on_notif(S::AwaitNotif, true), Ok((S::Free, E::Release)));
        assert_eq!(
            on_notif(S::FailedAwaitNotif, true),
            Ok((S::QueuedRetry, E::Queue))
        );
        assert_eq!(
            on_notif(S::DroppedAwaitNotif, true),
            Ok((S::Free, E::Release))
        );
    }

    #[test]
    fn impossible_results_are_stray() {
        for s in [
            S::Free,
            S::AwaitNotif,
            S::FailedAwaitNotif,
            S::DroppedAwaitNotif,
            S::QueuedRetry,
        ] {
            for o in [O::Sent, O::Retry, O::Dropped] {
                for more in [false, true] {
                    assert_eq!(on_result(s, o, more), Err(Stray), "{s:?} {o:?}");
                }
            }
        }
    }

    #[test]
    fn impossible_notifs_are_stray() {
        assert_eq!(on_notif(S::InFlight, false), Err(Stray), "copying send");
        for s in [S::Free, S::NotifFirst, S::QueuedRetry] {
            for zc in [false, true] {
                assert_eq!(on_notif(s, zc), Err(Stray), "{s:?}");
            }
        }
    }

    #[test]
    fn user_data_round_trips_and_never_collides_with_cancel() {
        assert_eq!(split_user_data(user_data(7, 3)), (7, 3));
        assert_eq!(
            split_user_data(user_data(u32::MAX - 1, u32::MAX)),
            (u32::MAX - 1, u32::MAX)
        );
        assert_ne!(user_data(u32::MAX - 1, u32::MAX), CANCEL_USER_DATA);
        let held: Vec<_> = S::ALL.iter().filter(|s| s.kernel_holds()).collect();
        assert_eq!(held.len(), 5);
        for (i, s) in S::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
    }
}
