//! One decoder per elementary file, in one place: what gbau's REPL, `gbau info`, `gbau apdu`
//! and script traces show of a file's bytes, and for the files a tester sets, the encoder
//! that turns the same fields back into bytes. Pure: bytes in, fields out, and back.
//!
//! Codings: TS 102 221 §13 (EF_DIR, EF_ICCID, EF_PL, EF_ARR), TS 31.102 §4.2 (USIM files,
//! GBA files §4.2.79/§4.2.83/§4.2.87), TS 31.103 §4.2 (ISIM files), each checked against
//! pySim's file definitions and test vectors (see the tests).

mod catalogue;
mod decoders;
mod encoders;
mod fields;
mod services;

pub use catalogue::{all, by_fid, by_name, in_df, Codec, Df, Kind, KnownFile, FILES};
pub use decoders::{AD_OPERATION_MODES, ECC_CATEGORIES};
pub use encoders::fields_of;
pub use fields::{Assignments, Decoded, Field, Value};
pub use services::{describe as describe_service, EST, IST, UST};

use crate::ef::EfError;

impl KnownFile {
    /// Decode the whole file (transparent) or one record; `None` when gbau has no decoder.
    pub fn decode(&self, bytes: &[u8]) -> Option<Result<Decoded, EfError>> {
        if self.secret && !matches!(self.codec, Codec::Keys | Codec::Kc) {
            return None;
        }
        decoders::decode(self.codec, bytes)
    }

    /// Encode fields for a file or record of `size` bytes; `None` when gbau has no encoder.
    pub fn encode(&self, fields: &Assignments, size: usize) -> Option<Result<Vec<u8>, EfError>> {
        if self.secret {
            return None;
        }
        encoders::encode(self.codec, fields, size)
    }

    /// The fields the encoder takes, if there is one.
    #[must_use]
    pub fn encoder_fields(&self) -> Option<&'static str> {
        if self.secret {
            return None;
        }
        fields_of(self.codec)
    }
}

/// Decode with a coding directly.
pub fn decode(codec: Codec, bytes: &[u8]) -> Option<Result<Decoded, EfError>> {
    decoders::decode(codec, bytes)
}

/// Encode with a coding directly.
pub fn encode(codec: Codec, fields: &Assignments, size: usize) -> Option<Result<Vec<u8>, EfError>> {
    encoders::encode(codec, fields, size)
}
