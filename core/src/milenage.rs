//! Milenage f1, f1*, f2–f5, f5* (3GPP TS 35.206 §4), OPc from OP, and the GSM conversions
//! c2/c3 (TS 33.102 §6.8.1.2).

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use zeroize::Zeroize;

use crate::secret::{Ck, Ik, Kc, Op, Opc, K};

/// The rotation amounts r1..r5 (bits) and constants c1..c5 of TS 35.206 §4.1.
///
/// Operators may choose other values; programmable cards (sysmo) let them be set, so these are
/// data rather than constants in the code.
#[derive(Clone, PartialEq, Eq)]
pub struct MilenageConstants {
    /// r1..r5, rotation towards the most significant end, in bits (0..=127).
    pub r: [u8; 5],
    /// c1..c5, 128-bit values XORed in before each output encryption.
    pub c: [[u8; 16]; 5],
}

impl std::fmt::Debug for MilenageConstants {
    /// Operator constants can be secret: only whether they are the standard ones is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if *self == Self::default() {
            f.write_str("MilenageConstants(standard)")
        } else {
            f.write_str("MilenageConstants(operator-specific, hidden)")
        }
    }
}

/// The standard r values of TS 35.206 §4.1: 64, 0, 32, 64, 96.
pub const STANDARD_R: [u8; 5] = [64, 0, 32, 64, 96];

impl Default for MilenageConstants {
    /// The standard constants: r as [`STANDARD_R`], c1..c5 = 0, 1, 2, 4, 8.
    fn default() -> Self {
        let mut c = [[0u8; 16]; 5];
        for (ci, last) in c.iter_mut().zip([0u8, 1, 2, 4, 8]) {
            ci[15] = last;
        }
        Self { r: STANDARD_R, c }
    }
}

/// Invalid Milenage constants.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MilenageError {
    /// A rotation outside 0..=127 bits.
    #[error("r{index} = {value} is not a rotation of 0..=127 bits")]
    BadRotation { index: usize, value: u8 },
}

impl MilenageConstants {
    /// Check the rotations are within a 128-bit block.
    pub fn validate(&self) -> Result<(), MilenageError> {
        for (i, r) in self.r.iter().enumerate() {
            if *r > 127 {
                return Err(MilenageError::BadRotation {
                    index: i + 1,
                    value: *r,
                });
            }
        }
        Ok(())
    }
}

/// Everything f2–f5 and f5* produce for one RAND.
#[derive(Clone, Debug)]
pub struct MilenageOutputs {
    /// f2: RES (64 bits with the standard output truncation).
    pub res: [u8; 8],
    /// f3: CK.
    pub ck: Ck,
    /// f4: IK.
    pub ik: Ik,
    /// f5: AK.
    pub ak: [u8; 6],
    /// f5*: AK* (resynchronisation).
    pub ak_star: [u8; 6],
}

/// A Milenage instance for one subscriber: K, OPc and the constants.
#[derive(Clone)]
pub struct Milenage {
    cipher: Aes128,
    opc: Opc,
    constants: MilenageConstants,
}

impl std::fmt::Debug for Milenage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Milenage")
            .field("constants", &self.constants)
            .finish_non_exhaustive()
    }
}

/// OPc = E_K(OP) ⊕ OP (TS 35.206 §4.1).
#[must_use]
pub fn opc_from_op(k: &K, op: &Op) -> Opc {
    let cipher = Aes128::new(k.expose().into());
    let mut block = *op.expose();
    encrypt(&cipher, &mut block);
    xor_into(&mut block, op.expose());
    let opc = Opc::new(block);
    block.zeroize();
    opc
}

impl Milenage {
    /// With the standard constants.
    #[must_use]
    pub fn new(k: &K, opc: Opc) -> Self {
        Self {
            cipher: Aes128::new(k.expose().into()),
            opc,
            constants: MilenageConstants::default(),
        }
    }

    /// With operator-chosen constants.
    pub fn with_constants(
        k: &K,
        opc: Opc,
        constants: MilenageConstants,
    ) -> Result<Self, MilenageError> {
        constants.validate()?;
        Ok(Self {
            cipher: Aes128::new(k.expose().into()),
            opc,
            constants,
        })
    }

    /// The OPc in use.
    #[must_use]
    pub fn opc(&self) -> &Opc {
        &self.opc
    }

    fn temp(&self, rand: &[u8; 16]) -> [u8; 16] {
        let mut t = *rand;
        xor_into(&mut t, self.opc.expose());
        encrypt(&self.cipher, &mut t);
        t
    }

    /// OUT_i for i = 2..5 from TEMP (index 1..=4 into the constant arrays).
    fn out(&self, temp: &[u8; 16], i: usize) -> [u8; 16] {
        let mut x = *temp;
        xor_into(&mut x, self.opc.expose());
        let mut x = rotate(&x, self.constants.r[i]);
        xor_into(&mut x, &self.constants.c[i]);
        encrypt(&self.cipher, &mut x);
        xor_into(&mut x, self.opc.expose());
        x
    }

    /// f1 and f1*: (MAC-A, MAC-S) for RAND, SQN, AMF.
    #[must_use]
    pub fn f1_f1star(&self, rand: &[u8; 16], sqn: &[u8; 6], amf: &[u8; 2]) -> ([u8; 8], [u8; 8]) {
        let temp = self.temp(rand);
        let mut in1 = [0u8; 16];
        in1[..6].copy_from_slice(sqn);
        in1[6..8].copy_from_slice(amf);
        in1[8..14].copy_from_slice(sqn);
        in1[14..].copy_from_slice(amf);
        xor_into(&mut in1, self.opc.expose());
        let mut x = rotate(&in1, self.constants.r[0]);
        xor_into(&mut x, &temp);
        xor_into(&mut x, &self.constants.c[0]);
        encrypt(&self.cipher, &mut x);
        xor_into(&mut x, self.opc.expose());
        let mut mac_a = [0u8; 8];
        let mut mac_s = [0u8; 8];
        mac_a.copy_from_slice(&x[..8]);
        mac_s.copy_from_slice(&x[8..]);
        (mac_a, mac_s)
    }

    /// f2, f3, f4, f5 and f5* for one RAND.
    #[must_use]
    pub fn f2345(&self, rand: &[u8; 16]) -> MilenageOutputs {
        let temp = self.temp(rand);
        let out2 = self.out(&temp, 1);
        let out3 = self.out(&temp, 2);
        let out4 = self.out(&temp, 3);
        let out5 = self.out(&temp, 4);
        let mut res = [0u8; 8];
        res.copy_from_slice(&out2[8..]);
        let mut ak = [0u8; 6];
        ak.copy_from_slice(&out2[..6]);
        let mut ak_star = [0u8; 6];
        ak_star.copy_from_slice(&out5[..6]);
        MilenageOutputs {
            res,
            ck: Ck::new(out3),
            ik: Ik::new(out4),
            ak,
            ak_star,
        }
    }

    /// f5* alone (the USIM needs it to build AUTS, the HSS to read one).
    #[must_use]
    pub fn f5star(&self, rand: &[u8; 16]) -> [u8; 6] {
        let temp = self.temp(rand);
        let out5 = self.out(&temp, 4);
        let mut ak_star = [0u8; 6];
        ak_star.copy_from_slice(&out5[..6]);
        ak_star
    }
}

/// c3: Kc = CK1 ⊕ CK2 ⊕ IK1 ⊕ IK2, with CK1/IK1 the first 64 bits (TS 33.102 §6.8.1.2).
#[must_use]
pub fn c3_kc(ck: &Ck, ik: &Ik) -> Kc {
    let (ck, ik) = (ck.expose(), ik.expose());
    let mut kc = [0u8; 8];
    for (i, b) in kc.iter_mut().enumerate() {
        *b = ck[i] ^ ck[i + 8] ^ ik[i] ^ ik[i + 8];
    }
    Kc::new(kc)
}

/// c2: SRES = XOR of the 32-bit words of RES (RES padded with zeros to a multiple of 32 bits;
/// TS 33.102 §6.8.1.2 for RES of 4 to 16 octets).
#[must_use]
pub fn c2_sres(res: &[u8]) -> [u8; 4] {
    let mut sres = [0u8; 4];
    for (i, b) in res.iter().enumerate() {
        sres[i % 4] ^= b;
    }
    sres
}

fn encrypt(cipher: &Aes128, block: &mut [u8; 16]) {
    cipher.encrypt_block(block.into());
}

fn xor_into(a: &mut [u8; 16], b: &[u8; 16]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// rot(x, r): cyclic shift of the 128-bit value towards the most significant end by r bits.
fn rotate(x: &[u8; 16], bits: u8) -> [u8; 16] {
    u128::from_be_bytes(*x)
        .rotate_left(u32::from(bits))
        .to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hexutil::parse_fixed;

    fn set1() -> Milenage {
        let k = K::new(parse_fixed("465b5ce8b199b49faa5f0a2ee238a6bc").unwrap_or_default());
        let op = Op::new(parse_fixed("cdc202d5123e20f62b6d676ac72cb318").unwrap_or_default());
        Milenage::new(&k, opc_from_op(&k, &op))
    }

    #[test]
    fn rotation_moves_bytes_towards_the_most_significant_end() {
        let mut x = [0u8; 16];
        x[15] = 1;
        let r = rotate(&x, 8);
        assert_eq!(r[14], 1);
        assert_eq!(rotate(&x, 0), x);
    }

    #[test]
    fn c2_of_an_8_octet_res_xors_the_halves() {
        assert_eq!(
            c2_sres(&[1, 2, 3, 4, 0x10, 0x20, 0x30, 0x40]),
            [0x11, 0x22, 0x33, 0x44]
        );
    }

    #[test]
    fn c3_xors_the_four_halves() {
        let mut ck = [0u8; 16];
        ck[0] = 1;
        ck[8] = 2;
        let mut ik = [0u8; 16];
        ik[0] = 4;
        ik[8] = 8;
        assert_eq!(c3_kc(&Ck::new(ck), &Ik::new(ik)).expose()[0], 0x0F);
    }

    #[test]
    fn non_standard_constants_change_the_output() {
        let m = set1();
        let mut c = MilenageConstants::default();
        c.r[1] = 8;
        let k = K::new(parse_fixed("465b5ce8b199b49faa5f0a2ee238a6bc").unwrap_or_default());
        let other = Milenage::with_constants(&k, m.opc().clone(), c).unwrap();
        let rand = [0x23; 16];
        assert_ne!(m.f2345(&rand).res, other.f2345(&rand).res);
        // f3 uses r3 and c3 only, so it does not move.
        assert_eq!(m.f2345(&rand).ck, other.f2345(&rand).ck);
    }

    #[test]
    fn rotations_over_127_are_refused() {
        let mut c = MilenageConstants::default();
        c.r[4] = 128;
        assert_eq!(
            c.validate(),
            Err(MilenageError::BadRotation {
                index: 5,
                value: 128
            })
        );
    }
}
