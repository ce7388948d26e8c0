//! Sequence number freshness on the USIM, TS 33.102 Annex C.1–C.2 (profile 2: SQN = SEQ ‖ IND).

use std::fmt;

/// A 48-bit sequence number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Sqn(u64);

/// The largest 48-bit value.
pub const SQN_MAX: u64 = (1 << 48) - 1;

impl Sqn {
    /// From an integer; `None` when it does not fit in 48 bits.
    #[must_use]
    pub fn new(value: u64) -> Option<Self> {
        (value <= SQN_MAX).then_some(Self(value))
    }

    /// From the 6 octets that travel in AUTN and AUTS.
    #[must_use]
    pub fn from_bytes(b: [u8; 6]) -> Self {
        Self(u64::from_be_bytes([
            0, 0, b[0], b[1], b[2], b[3], b[4], b[5],
        ]))
    }

    /// The 6 big-endian octets.
    #[must_use]
    pub fn to_bytes(self) -> [u8; 6] {
        let b = self.0.to_be_bytes();
        [b[2], b[3], b[4], b[5], b[6], b[7]]
    }

    /// The integer value.
    #[must_use]
    pub fn value(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Sqn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sqn({:012x})", self.0)
    }
}

impl fmt::Display for Sqn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012x}", self.0)
    }
}

/// Number of IND bits in TS 33.102 Annex C.3.2's example, giving 32 array slots.
pub const IND_BITS: u32 = 5;
/// Number of slots in the SQN array: 2^IND_BITS.
pub const IND_SLOTS: usize = 1 << IND_BITS;

/// The operator's freshness parameters (Annex C.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqnPolicy {
    /// Δ: the largest accepted jump of SEQ above the highest SEQ accepted so far. `None`
    /// disables the check (as some test cards are configured).
    pub delta: Option<u64>,
    /// L: optional age limit: refuse a SEQ more than L below the highest accepted SEQ.
    /// The exact comparison (strict or not) is from memory of Annex C.2.2 **[to confirm]**.
    pub age_limit: Option<u64>,
}

/// Δ = 2^28, the value TS 33.102 Annex C.3.1 suggests as an example.
pub const DEFAULT_DELTA: u64 = 1 << 28;

impl Default for SqnPolicy {
    fn default() -> Self {
        Self {
            delta: Some(DEFAULT_DELTA),
            age_limit: None,
        }
    }
}

/// Why an SQN was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SqnError {
    /// SEQ is not greater than the SEQ last accepted in this IND slot (replay or reuse).
    #[error("SQN {sqn} not fresh: SEQ {seq:#x} <= SEQ_MS[{ind}] {seq_ms:#x}")]
    NotFresh {
        sqn: Sqn,
        ind: usize,
        seq: u64,
        seq_ms: u64,
    },
    /// SEQ is more than Δ above the highest accepted SEQ.
    #[error("SQN {sqn} too far ahead: SEQ {seq:#x} exceeds highest {highest:#x} by more than Δ {delta:#x}")]
    TooFarAhead {
        sqn: Sqn,
        seq: u64,
        highest: u64,
        delta: u64,
    },
    /// SEQ is older than the age limit allows.
    #[error(
        "SQN {sqn} too old: SEQ {seq:#x} is more than L {limit:#x} below highest {highest:#x}"
    )]
    TooOld {
        sqn: Sqn,
        seq: u64,
        highest: u64,
        limit: u64,
    },
}

/// The USIM's array of the highest SEQ accepted per IND value, with the policy that checks
/// new SQNs against it. Pure data: the card persists it after every accepted SQN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqnArray {
    seq_ms: [u64; IND_SLOTS],
    policy: SqnPolicy,
}

impl SqnArray {
    /// A fresh array (all SEQ_MS zero).
    #[must_use]
    pub fn new(policy: SqnPolicy) -> Self {
        Self {
            seq_ms: [0; IND_SLOTS],
            policy,
        }
    }

    /// Restore from persisted slots.
    #[must_use]
    pub fn from_parts(seq_ms: [u64; IND_SLOTS], policy: SqnPolicy) -> Self {
        Self { seq_ms, policy }
    }

    /// The persisted slots.
    #[must_use]
    pub fn slots(&self) -> &[u64; IND_SLOTS] {
        &self.seq_ms
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> SqnPolicy {
        self.policy
    }

    fn split(sqn: Sqn) -> (u64, usize) {
        (
            sqn.value() >> IND_BITS,
            (sqn.value() & (IND_SLOTS as u64 - 1)) as usize,
        )
    }

    fn highest_seq(&self) -> u64 {
        self.seq_ms.iter().copied().max().unwrap_or(0)
    }

    /// Check an SQN without changing anything (Annex C.2.2).
    pub fn check(&self, sqn: Sqn) -> Result<(), SqnError> {
        let (seq, ind) = Self::split(sqn);
        let seq_ms = self.seq_ms[ind];
        if seq <= seq_ms {
            return Err(SqnError::NotFresh {
                sqn,
                ind,
                seq,
                seq_ms,
            });
        }
        let highest = self.highest_seq();
        if let Some(delta) = self.policy.delta {
            if seq > highest && seq - highest > delta {
                return Err(SqnError::TooFarAhead {
                    sqn,
                    seq,
                    highest,
                    delta,
                });
            }
        }
        if let Some(limit) = self.policy.age_limit {
            if highest > seq && highest - seq > limit {
                return Err(SqnError::TooOld {
                    sqn,
                    seq,
                    highest,
                    limit,
                });
            }
        }
        Ok(())
    }

    /// Record an SQN as accepted (call after [`check`](Self::check) succeeded).
    pub fn accept(&mut self, sqn: Sqn) {
        let (seq, ind) = Self::split(sqn);
        self.seq_ms[ind] = self.seq_ms[ind].max(seq);
    }

    /// Check and, if fresh, accept.
    pub fn check_and_accept(&mut self, sqn: Sqn) -> Result<(), SqnError> {
        self.check(sqn)?;
        self.accept(sqn);
        Ok(())
    }

    /// SQN_MS for AUTS: the highest accepted SEQ with the IND of its slot (TS 33.102 §6.3.5,
    /// Annex C.2.1). Zero on a fresh card.
    #[must_use]
    pub fn sqn_ms(&self) -> Sqn {
        let (ind, seq) = self
            .seq_ms
            .iter()
            .enumerate()
            .max_by_key(|(i, s)| (**s, std::cmp::Reverse(*i)))
            .map_or((0, 0), |(i, s)| (i, *s));
        Sqn((seq << IND_BITS) | ind as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqn(seq: u64, ind: u64) -> Sqn {
        Sqn::new((seq << IND_BITS) | ind).unwrap_or_default()
    }

    #[test]
    fn bytes_round_trip() {
        let s = Sqn::from_bytes([0xff, 0x9b, 0xb4, 0xd0, 0xb6, 0x07]);
        assert_eq!(s.value(), 0xff9b_b4d0_b607);
        assert_eq!(s.to_bytes(), [0xff, 0x9b, 0xb4, 0xd0, 0xb6, 0x07]);
        assert!(Sqn::new(1 << 48).is_none());
    }

    #[test]
    fn replay_in_the_same_slot_is_refused_other_slots_accept() {
        let mut a = SqnArray::new(SqnPolicy::default());
        a.check_and_accept(sqn(5, 3)).unwrap();
        assert!(matches!(
            a.check(sqn(5, 3)),
            Err(SqnError::NotFresh { ind: 3, .. })
        ));
        assert!(matches!(a.check(sqn(4, 3)), Err(SqnError::NotFresh { .. })));
        // A lower SEQ in another slot is still fresh: that is the point of the array.
        a.check_and_accept(sqn(2, 4)).unwrap();
        a.check_and_accept(sqn(6, 3)).unwrap();
    }

    #[test]
    fn delta_limits_jumps() {
        let mut a = SqnArray::new(SqnPolicy {
            delta: Some(100),
            age_limit: None,
        });
        a.check_and_accept(sqn(100, 0)).unwrap();
        assert!(matches!(
            a.check(sqn(201, 1)),
            Err(SqnError::TooFarAhead { .. })
        ));
        a.check_and_accept(sqn(200, 1)).unwrap();
        let unlimited = SqnArray::new(SqnPolicy {
            delta: None,
            age_limit: None,
        });
        unlimited.check(sqn(1 << 40, 0)).unwrap();
    }

    #[test]
    fn age_limit_refuses_old_seq() {
        let mut a = SqnArray::new(SqnPolicy {
            delta: None,
            age_limit: Some(10),
        });
        a.check_and_accept(sqn(100, 0)).unwrap();
        assert!(matches!(a.check(sqn(89, 1)), Err(SqnError::TooOld { .. })));
        a.check_and_accept(sqn(90, 1)).unwrap();
    }

    #[test]
    fn sqn_ms_is_the_highest_accepted() {
        let mut a = SqnArray::new(SqnPolicy {
            delta: None,
            age_limit: None,
        });
        assert_eq!(a.sqn_ms().value(), 0);
        a.accept(sqn(7, 2));
        a.accept(sqn(9, 30));
        a.accept(sqn(8, 1));
        assert_eq!(a.sqn_ms(), sqn(9, 30));
    }
}
