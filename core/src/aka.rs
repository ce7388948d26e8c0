//! UMTS AKA on both sides (TS 33.102 §6.3): building and verifying AUTN and AUTS, and the
//! GBA_U MAC* modification (TS 33.220 §5.3.2).

use std::fmt;

use sha1::{Digest, Sha1};

use crate::milenage::{c3_kc, Milenage};
use crate::secret::{Ck, Ik, Kc};
use crate::sqn::Sqn;

macro_rules! public_bytes {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in octets.
            pub const LEN: usize = $len;

            /// Copy from a slice of exactly `LEN` bytes.
            #[must_use]
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(bytes).ok().map(Self)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), hex::encode(self.0))
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }
    };
}

public_bytes!(
    /// RAND, the 128-bit random challenge.
    Rand, 16
);
public_bytes!(
    /// AUTN = SQN ⊕ AK ‖ AMF ‖ MAC (or MAC* for GBA_U).
    Autn, 16
);
public_bytes!(
    /// AUTS = SQN_MS ⊕ AK* ‖ MAC-S, the resynchronisation token.
    Auts, 14
);
public_bytes!(
    /// AMF, the authentication management field.
    Amf, 2
);

/// AMF* used in MAC-S computation (TS 33.102 §6.3.3): all zero.
pub const AMF_RESYNC: Amf = Amf([0, 0]);

/// RES, 4 to 16 octets (TS 33.102 §6.3.2). Milenage gives 8.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Res(Vec<u8>);

/// RES lengths allowed by TS 33.102.
pub const RES_LEN_RANGE: std::ops::RangeInclusive<usize> = 4..=16;

impl Res {
    /// A RES of 4..=16 octets.
    #[must_use]
    pub fn new(bytes: &[u8]) -> Option<Self> {
        RES_LEN_RANGE
            .contains(&bytes.len())
            .then(|| Self(bytes.to_vec()))
    }

    /// The octets.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Res {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Res({})", hex::encode(&self.0))
    }
}

/// A network-side authentication vector (quintet) plus what the BSF and tools need.
#[derive(Clone, Debug)]
pub struct AuthVector {
    pub rand: Rand,
    pub xres: Res,
    pub ck: Ck,
    pub ik: Ik,
    pub autn: Autn,
    pub ak: [u8; 6],
    pub mac_a: [u8; 8],
}

/// Build an authentication vector for RAND, SQN and AMF (TS 33.102 §6.3.2, Figure 7).
#[must_use]
pub fn generate_vector(m: &Milenage, rand: &Rand, sqn: Sqn, amf: Amf) -> AuthVector {
    let (mac_a, _) = m.f1_f1star(&rand.0, &sqn.to_bytes(), &amf.0);
    let out = m.f2345(&rand.0);
    let autn = assemble_autn(sqn, &out.ak, amf, &mac_a);
    AuthVector {
        rand: *rand,
        xres: Res(out.res.to_vec()),
        ck: out.ck,
        ik: out.ik,
        autn,
        ak: out.ak,
        mac_a,
    }
}

fn assemble_autn(sqn: Sqn, ak: &[u8; 6], amf: Amf, mac: &[u8; 8]) -> Autn {
    let mut autn = [0u8; 16];
    for (i, (s, a)) in sqn.to_bytes().iter().zip(ak).enumerate() {
        autn[i] = s ^ a;
    }
    autn[6..8].copy_from_slice(&amf.0);
    autn[8..].copy_from_slice(mac);
    Autn(autn)
}

/// The 64-bit mask of the GBA_U MAC modification: the first 64 bits of SHA-1(IK).
///
/// TS 33.220 §5.3.2 as recalled in the facts note **[to confirm]**: MAC* = MAC ⊕ Trunc64(SHA-1(IK)).
#[must_use]
pub fn gba_u_mac_mask(ik: &Ik) -> [u8; 8] {
    let digest = Sha1::digest(ik.expose());
    let mut mask = [0u8; 8];
    mask.copy_from_slice(&digest[..8]);
    mask
}

/// AUTN* for a GBA_U subscriber: AUTN with MAC replaced by MAC* (TS 33.220 §5.3.2).
#[must_use]
pub fn gba_u_autn(autn: &Autn, ik: &Ik) -> Autn {
    let mask = gba_u_mac_mask(ik);
    let mut out = autn.0;
    for (b, m) in out[8..].iter_mut().zip(mask) {
        *b ^= m;
    }
    Autn(out)
}

/// The bit of RES's last octet that a GBA_U run flips.
///
/// TS 33.220 §5.3.2 as recalled (twice, independently; the clause's text is not in the
/// searchable corpora) **[to confirm]**: in a GBA_U run the UICC "transfers RES (after
/// flipping the least significant bit) to the ME", and the BSF "stores the XRES after flipping
/// the least significant bit". It mirrors MAC*: MAC* keeps a GBA_U challenge from working in
/// the 3G context; the flip keeps a GBA_U RES from answering a plain AKA challenge.
pub const GBA_U_RES_FLIP: u8 = 0x01;

/// RES (or XRES) as a GBA_U run carries it: the least significant bit flipped.
#[must_use]
pub fn gba_u_res(res: &Res) -> Res {
    let mut bytes = res.0.clone();
    if let Some(last) = bytes.last_mut() {
        *last ^= GBA_U_RES_FLIP;
    }
    Res(bytes)
}

/// Which run a challenge belongs to: the one switch for everything TS 33.220 §5.3.2 changes
/// in a GBA_U run (MAC* in AUTN, RES flipped). The card, the BSF and the oracle all take the
/// modifications from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutnKind {
    /// The plain MAC-A and RES: 3G context, GBA_ME.
    Plain,
    /// MAC* and the flipped RES (GBA bootstrapping mode of a GBA_U card).
    GbaU,
}

impl AutnKind {
    /// The AUTN the network sends for this kind of run (AUTN* for GBA_U).
    #[must_use]
    pub fn network_autn(self, autn: &Autn, ik: &Ik) -> Autn {
        match self {
            Self::Plain => *autn,
            Self::GbaU => gba_u_autn(autn, ik),
        }
    }

    /// RES as the card answers it and XRES as the BSF checks it for this kind of run.
    #[must_use]
    pub fn res(self, res: &Res) -> Res {
        match self {
            Self::Plain => res.clone(),
            Self::GbaU => gba_u_res(res),
        }
    }
}

/// What the USIM learns from a verified AUTN. The SQN is not yet checked for freshness.
#[derive(Clone, Debug)]
pub struct VerifiedChallenge {
    pub sqn: Sqn,
    pub amf: Amf,
    pub res: Res,
    pub ck: Ck,
    pub ik: Ik,
}

impl VerifiedChallenge {
    /// Kc by the c3 conversion, for cards with UST service 27.
    #[must_use]
    pub fn kc(&self) -> Kc {
        c3_kc(&self.ck, &self.ik)
    }
}

/// AUTN verification failed: the MAC (or MAC*) does not match ('9862').
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("AUTN MAC does not verify")]
pub struct MacFailure;

/// USIM side: recover SQN from AUTN, verify the MAC, and compute RES, CK, IK
/// (TS 33.102 §6.3.3). For `AutnKind::GbaU`, IK is computed first and MAC* unmasked.
pub fn verify_autn(
    m: &Milenage,
    rand: &Rand,
    autn: &Autn,
    kind: AutnKind,
) -> Result<VerifiedChallenge, MacFailure> {
    let out = m.f2345(&rand.0);
    let mut sqn = [0u8; 6];
    for (i, s) in sqn.iter_mut().enumerate() {
        *s = autn.0[i] ^ out.ak[i];
    }
    let sqn = Sqn::from_bytes(sqn);
    let amf = Amf([autn.0[6], autn.0[7]]);
    let mut received = [0u8; 8];
    received.copy_from_slice(&autn.0[8..]);
    if kind == AutnKind::GbaU {
        for (b, mask) in received.iter_mut().zip(gba_u_mac_mask(&out.ik)) {
            *b ^= mask;
        }
    }
    let (xmac, _) = m.f1_f1star(&rand.0, &sqn.to_bytes(), &amf.0);
    if !crate::ct_eq(&xmac, &received) {
        return Err(MacFailure);
    }
    Ok(VerifiedChallenge {
        sqn,
        amf,
        res: Res(out.res.to_vec()),
        ck: out.ck,
        ik: out.ik,
    })
}

/// USIM side: AUTS = SQN_MS ⊕ AK* ‖ MAC-S with MAC-S = f1*(SQN_MS, RAND, AMF*)
/// (TS 33.102 §6.3.3, §6.3.5).
#[must_use]
pub fn build_auts(m: &Milenage, rand: &Rand, sqn_ms: Sqn) -> Auts {
    let ak_star = m.f5star(&rand.0);
    let (_, mac_s) = m.f1_f1star(&rand.0, &sqn_ms.to_bytes(), &AMF_RESYNC.0);
    let mut auts = [0u8; 14];
    for (i, (s, a)) in sqn_ms.to_bytes().iter().zip(ak_star).enumerate() {
        auts[i] = s ^ a;
    }
    auts[6..].copy_from_slice(&mac_s);
    Auts(auts)
}

/// AUTS verification failed at the HSS: MAC-S does not match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("AUTS MAC-S does not verify")]
pub struct AutsMacFailure;

/// HSS side: recover SQN_MS from AUTS and verify MAC-S (TS 33.102 §6.3.5).
pub fn verify_auts(m: &Milenage, rand: &Rand, auts: &Auts) -> Result<Sqn, AutsMacFailure> {
    let ak_star = m.f5star(&rand.0);
    let mut sqn = [0u8; 6];
    for (i, s) in sqn.iter_mut().enumerate() {
        *s = auts.0[i] ^ ak_star[i];
    }
    let sqn_ms = Sqn::from_bytes(sqn);
    let (_, xmac_s) = m.f1_f1star(&rand.0, &sqn, &AMF_RESYNC.0);
    if crate::ct_eq(&xmac_s, &auts.0[6..]) {
        Ok(sqn_ms)
    } else {
        Err(AutsMacFailure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hexutil::parse_fixed;
    use crate::secret::{Opc, K};

    fn set1() -> Milenage {
        Milenage::new(
            &K::new(parse_fixed("465b5ce8b199b49faa5f0a2ee238a6bc").unwrap_or_default()),
            Opc::new(parse_fixed("cd63cb71954a9f4e48a5994e37a02baf").unwrap_or_default()),
        )
    }

    #[test]
    fn a_vector_verifies_and_a_flipped_bit_does_not() {
        let m = set1();
        let rand = Rand([7; 16]);
        let v = generate_vector(
            &m,
            &rand,
            Sqn::new(0x20).unwrap_or_default(),
            Amf([0x80, 0]),
        );
        let ok = verify_autn(&m, &rand, &v.autn, AutnKind::Plain).unwrap();
        assert_eq!(ok.sqn.value(), 0x20);
        assert_eq!(ok.res, v.xres);
        for bit in 0..128 {
            let mut bad = v.autn;
            bad.0[bit / 8] ^= 1 << (bit % 8);
            assert!(
                verify_autn(&m, &rand, &bad, AutnKind::Plain).is_err(),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn gba_u_autn_fails_in_the_plain_context_and_plain_fails_in_gba_u() {
        let m = set1();
        let rand = Rand([9; 16]);
        let v = generate_vector(
            &m,
            &rand,
            Sqn::new(0x40).unwrap_or_default(),
            Amf([0x80, 0]),
        );
        let star = gba_u_autn(&v.autn, &v.ik);
        assert!(verify_autn(&m, &rand, &star, AutnKind::GbaU).is_ok());
        assert_eq!(
            verify_autn(&m, &rand, &star, AutnKind::Plain).unwrap_err(),
            MacFailure
        );
        assert!(verify_autn(&m, &rand, &v.autn, AutnKind::GbaU).is_err());
    }

    #[test]
    fn auts_round_trip_and_tamper() {
        let m = set1();
        let rand = Rand([3; 16]);
        let sqn_ms = Sqn::new(0x0012_3456_789a).unwrap_or_default();
        let auts = build_auts(&m, &rand, sqn_ms);
        assert_eq!(verify_auts(&m, &rand, &auts), Ok(sqn_ms));
        let mut bad = auts;
        bad.0[13] ^= 1;
        assert_eq!(verify_auts(&m, &rand, &bad), Err(AutsMacFailure));
    }

    #[test]
    fn res_length_bounds() {
        assert!(Res::new(&[0; 3]).is_none());
        assert!(Res::new(&[0; 4]).is_some());
        assert!(Res::new(&[0; 16]).is_some());
        assert!(Res::new(&[0; 17]).is_none());
    }
}
