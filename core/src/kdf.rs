//! The generic key derivation function of TS 33.220 Annex B.2 and the GBA keys built on it:
//! Ks_NAF / Ks_ext_NAF, Ks_int_NAF (Annex B.3), Ks_local_MT (seed 001, TS 33.259), and the
//! EAP-AKA' CK'/IK' derivation (TS 33.402 Annex A.2 / RFC 5448) used to check the KDF itself.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::aka::Rand;
use crate::identity::{BTid, Impi, NafId};
use crate::secret::{Ck, Ik, Ks, KsIntNaf, KsLocalMt, KsNaf};

type HmacSha256 = Hmac<Sha256>;

/// FC for the GBA NAF-specific key derivations (TS 33.220 Annex B.2.2).
pub const FC_GBA_NAF: u8 = 0x01;
/// FC for CK'/IK' (TS 33.402 Annex A.2; RFC 5448 §3.3).
pub const FC_CK_IK_PRIME: u8 = 0x20;
/// FC for Ks_local_MT / Ks_local_device. **[to confirm]** against TS 33.259 Annex A: recalled,
/// not quoted. Every user of the derivation goes through [`ks_local_mt`], so a correction is
/// this one line.
pub const FC_KS_LOCAL_MT: u8 = 0x02;

/// P0 of Ks_(ext)_NAF (TS 33.220 Annex B.3).
pub const LABEL_GBA_ME: &str = "gba-me";
/// P0 of Ks_int_NAF (TS 33.220 Annex B.3).
pub const LABEL_GBA_U: &str = "gba-u";

/// The order of the Ks_local_MT parameters P0, P1, P2 **[to confirm]** (seed 001 §5.5 names the
/// inputs Ks_(ext)_NAF, B-TID, NAF_Id and Device_ID but not their coding; TS 33.259 Annex A
/// fixes it and is not at hand). The key is Ks_(ext)_NAF; the parameters follow this order.
pub const KS_LOCAL_MT_PARAMETER_ORDER: [KsLocalMtParameter; 3] = [
    KsLocalMtParameter::BTid,
    KsLocalMtParameter::NafId,
    KsLocalMtParameter::DeviceId,
];

/// One input of the Ks_local_MT derivation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KsLocalMtParameter {
    /// B-TID as UTF-8 text.
    BTid,
    /// NAF_Id octets (FQDN ‖ Ua protocol id) of the NAF Key Center.
    NafId,
    /// Device_ID as UTF-8 text.
    DeviceId,
}

/// A KDF input parameter longer than its two-octet length field can say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("KDF parameter P{index} is {len} octets; at most 65535 fit its length field")]
pub struct KdfParameterTooLong {
    pub index: usize,
    pub len: usize,
}

/// KDF(Key, S) = HMAC-SHA-256(Key, FC ‖ P0 ‖ L0 ‖ … ‖ Pn ‖ Ln), Li two octets big-endian
/// (TS 33.220 Annex B.2.0).
pub fn kdf(key: &[u8], fc: u8, params: &[&[u8]]) -> Result<[u8; 32], KdfParameterTooLong> {
    let mut mac = match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this branch cannot be reached.
        Err(_) => {
            return Err(KdfParameterTooLong {
                index: usize::MAX,
                len: key.len(),
            })
        }
    };
    mac.update(&[fc]);
    for (index, p) in params.iter().enumerate() {
        let len = u16::try_from(p.len()).map_err(|_| KdfParameterTooLong {
            index,
            len: p.len(),
        })?;
        mac.update(p);
        mac.update(&len.to_be_bytes());
    }
    Ok(mac.finalize().into_bytes().into())
}

fn naf_key(
    label: &str,
    ks: &Ks,
    rand: &Rand,
    impi: &Impi,
    naf_id: &NafId,
) -> Result<[u8; 32], KdfParameterTooLong> {
    let naf_id = naf_id.to_bytes();
    kdf(
        ks.expose(),
        FC_GBA_NAF,
        &[label.as_bytes(), &rand.0, impi.as_str().as_bytes(), &naf_id],
    )
}

/// Ks_NAF (GBA_ME) = Ks_ext_NAF (GBA_U) = KDF(Ks, "gba-me", RAND, IMPI, NAF_Id).
pub fn ks_ext_naf(
    ks: &Ks,
    rand: &Rand,
    impi: &Impi,
    naf_id: &NafId,
) -> Result<KsNaf, KdfParameterTooLong> {
    naf_key(LABEL_GBA_ME, ks, rand, impi, naf_id).map(KsNaf::new)
}

/// Ks_int_NAF = KDF(Ks, "gba-u", RAND, IMPI, NAF_Id); it stays on the UICC.
pub fn ks_int_naf(
    ks: &Ks,
    rand: &Rand,
    impi: &Impi,
    naf_id: &NafId,
) -> Result<KsIntNaf, KdfParameterTooLong> {
    naf_key(LABEL_GBA_U, ks, rand, impi, naf_id).map(KsIntNaf::new)
}

/// Ks_local_MT from Ks_(ext)_NAF, B-TID, NAF_Id and Device_ID (seed 001 §5.5.2 steps 9 and 15).
/// FC and parameter order are the named constants above **[to confirm]**.
pub fn ks_local_mt(
    ks_naf: &KsNaf,
    b_tid: &BTid,
    naf_id: &NafId,
    device_id: &str,
) -> Result<KsLocalMt, KdfParameterTooLong> {
    let naf_id = naf_id.to_bytes();
    let params = KS_LOCAL_MT_PARAMETER_ORDER.map(|p| match p {
        KsLocalMtParameter::BTid => b_tid.as_str().as_bytes(),
        KsLocalMtParameter::NafId => naf_id.as_slice(),
        KsLocalMtParameter::DeviceId => device_id.as_bytes(),
    });
    kdf(ks_naf.expose(), FC_KS_LOCAL_MT, &params).map(KsLocalMt::new)
}

/// CK' ‖ IK' = KDF(CK ‖ IK, 0x20, access network identity, SQN ⊕ AK) (RFC 5448 §3.3).
pub fn ck_ik_prime(
    ck: &Ck,
    ik: &Ik,
    network_name: &str,
    sqn_xor_ak: &[u8; 6],
) -> Result<(Ck, Ik), KdfParameterTooLong> {
    let key = Ks::from_ck_ik(ck, ik);
    let out = kdf(
        key.expose(),
        FC_CK_IK_PRIME,
        &[network_name.as_bytes(), sqn_xor_ak],
    )?;
    let mut ck_prime = [0u8; 16];
    let mut ik_prime = [0u8; 16];
    ck_prime.copy_from_slice(&out[..16]);
    ik_prime.copy_from_slice(&out[16..]);
    Ok((Ck::new(ck_prime), Ik::new(ik_prime)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s_is_built_with_two_octet_lengths() {
        // KDF with no parameters is HMAC(key, FC); with one, FC ‖ P0 ‖ L0.
        let a = kdf(b"k", 0x01, &[b"ab"]).unwrap();
        let mut mac = <HmacSha256 as Mac>::new_from_slice(b"k").unwrap();
        mac.update(&[0x01, b'a', b'b', 0x00, 0x02]);
        assert_eq!(a, <[u8; 32]>::from(mac.finalize().into_bytes()));
    }

    #[test]
    fn over_long_parameters_are_refused() {
        let big = vec![0u8; 65_536];
        assert_eq!(
            kdf(b"k", 1, &[b"x", &big]),
            Err(KdfParameterTooLong {
                index: 1,
                len: 65_536
            })
        );
    }
}
