//! Secret key newtypes: zeroized on drop, compared in constant time, never printed.
//!
//! `Debug` prints only the type name (`Ks(..)`); the bytes are reached through `expose()`, so a
//! key can only appear in output where the code asks for it by name.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret had the wrong length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be {expected} bytes, got {got}")]
pub struct SecretLengthError {
    pub name: &'static str,
    pub expected: usize,
    pub got: usize,
}

macro_rules! secret_bytes {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in octets.
            pub const LEN: usize = $len;

            /// Wrap the bytes.
            #[must_use]
            pub fn new(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// Copy from a slice of exactly `LEN` bytes.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, SecretLengthError> {
                <[u8; $len]>::try_from(bytes).map(Self).map_err(|_| SecretLengthError {
                    name: stringify!($name),
                    expected: $len,
                    got: bytes.len(),
                })
            }

            /// The secret bytes. Call sites are where keys leave their type: keep them few.
            #[must_use]
            pub fn expose(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }

        /// Serialized as lowercase hex (the wire and store format of gbau's JSON); the
        /// intermediate text is zeroized once written or parsed.
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut text = crate::hexutil::to_hex(&self.0);
                let r = s.serialize_str(&text);
                text.zeroize();
                r
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let mut text = String::deserialize(d)?;
                let parsed = crate::hexutil::parse_fixed::<$len>(&text);
                text.zeroize();
                match parsed {
                    Ok(mut bytes) => {
                        let key = Self(bytes);
                        bytes.zeroize();
                        Ok(key)
                    }
                    Err(e) => Err(serde::de::Error::custom(format_args!(
                        concat!(stringify!($name), ": {}"),
                        e
                    ))),
                }
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                crate::ct_eq(&self.0, &other.0)
            }
        }

        impl Eq for $name {}
    };
}

secret_bytes!(
    /// K, the subscriber key shared by USIM and HSS (128 bits).
    K, 16
);
secret_bytes!(
    /// OP, the operator variant configuration field of Milenage (TS 35.206).
    Op, 16
);
secret_bytes!(
    /// OPc = E_K(OP) ⊕ OP, the value cards store instead of OP.
    Opc, 16
);
secret_bytes!(
    /// CK, the cipher key from f3.
    Ck, 16
);
secret_bytes!(
    /// IK, the integrity key from f4.
    Ik, 16
);
secret_bytes!(
    /// Kc, the GSM cipher key from the c3 conversion.
    Kc, 8
);
secret_bytes!(
    /// Ks = CK ‖ IK, the GBA master key. In GBA_U it never leaves the UICC.
    Ks, 32
);
secret_bytes!(
    /// Ks_NAF (GBA_ME) or Ks_ext_NAF (GBA_U): the NAF-specific key the ME and the NAF share.
    KsNaf, 32
);
secret_bytes!(
    /// Ks_int_NAF: the GBA_U NAF key that stays on the UICC.
    KsIntNaf, 32
);
secret_bytes!(
    /// Ks_local_MT (seed 001; Ks_local_device in TS 33.259): the MT ↔ external device key.
    KsLocalMt, 32
);

/// Ks_ext_NAF is Ks_NAF computed with the GBA_U inputs: one type, two names.
pub type KsExtNaf = KsNaf;

impl Ks {
    /// Ks = CK ‖ IK (TS 33.220 §4.5.2).
    #[must_use]
    pub fn from_ck_ik(ck: &Ck, ik: &Ik) -> Self {
        let mut ks = [0u8; 32];
        ks[..16].copy_from_slice(ck.expose());
        ks[16..].copy_from_slice(ik.expose());
        let out = Self(ks);
        ks.zeroize();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_bytes() {
        let ks = Ks::new([0xAB; 32]);
        assert_eq!(format!("{ks:?}"), "Ks(..)");
        assert!(!format!("{:?}", K::new([0x12; 16])).contains("12"));
    }

    #[test]
    fn serde_is_hex_and_checks_length() {
        let k = KsLocalMt::new([0xAB; 32]);
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        let back: KsLocalMt = serde_json::from_str(&json.to_uppercase()).unwrap();
        assert_eq!(back, k);
        let e = serde_json::from_str::<KsLocalMt>("\"abcd\"").unwrap_err();
        assert!(e.to_string().contains("KsLocalMt"), "{e}");
        assert!(serde_json::from_str::<KsLocalMt>("\"zz\"").is_err());
    }

    #[test]
    fn from_slice_checks_length() {
        let e = Ck::from_slice(&[0; 15]).unwrap_err();
        assert_eq!(e.to_string(), "Ck must be 16 bytes, got 15");
    }

    #[test]
    fn ks_is_ck_then_ik() {
        let ks = Ks::from_ck_ik(&Ck::new([1; 16]), &Ik::new([2; 16]));
        assert_eq!(&ks.expose()[..16], &[1; 16]);
        assert_eq!(&ks.expose()[16..], &[2; 16]);
    }
}
