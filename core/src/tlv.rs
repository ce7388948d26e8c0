//! BER-TLV as ISO/IEC 7816-4 §5.2 uses it (FCP templates, EF_DIR records, EF_GBANL records),
//! and the length-value lists of the AUTHENTICATE data fields (TS 31.102 §7.1.2).
//!
//! Tags are 1–3 octets, lengths are definite (short form, or '81'/'82'/'83' long form).
//! '00' and 'FF' octets between objects are padding (ISO 7816-4 §5.2) and are skipped.
//!
//! Why not `iso7816-tlv` (the crate the design names): version 0.4.4 reads the indefinite
//! length form `80 80` as an empty value, writes a template around a 127-byte value with an
//! inconsistent length, fails a template padded inside, and recurses without limit (a
//! 65,001-byte input of nested templates overflows a 2 MiB stack). Each input is named in
//! `core/tests/tlv_against_iso7816_tlv.rs`, which also checks that where both parsers accept
//! an input they agree on every tag and value.

/// Why bytes are not well-formed BER-TLV.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// The input ended inside a tag, length or value.
    #[error("TLV truncated at offset {offset}: need {needed} more bytes")]
    Truncated { offset: usize, needed: usize },
    /// A tag longer than three octets.
    #[error("tag at offset {offset} is longer than 3 octets")]
    TagTooLong { offset: usize },
    /// Indefinite ('80') or over-long ('84'+) length form.
    #[error("unsupported length octet {byte:#04x} at offset {offset}")]
    BadLength { offset: usize, byte: u8 },
    /// A value too long to encode.
    #[error("value of {len} bytes is too long to encode")]
    ValueTooLong { len: usize },
    /// A nested template deeper than the parser follows.
    #[error("TLV nested more than {max} levels")]
    TooDeep { max: usize },
}

/// A tag, as its octets read big-endian into an integer ('62', '9F 1F', …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

impl Tag {
    /// True when bit 6 of the first octet is set (a template of nested TLVs).
    #[must_use]
    pub fn is_constructed(self) -> bool {
        self.first_octet() & 0x20 != 0
    }

    fn first_octet(self) -> u8 {
        let b = self.0.to_be_bytes();
        if self.0 > 0xFFFF {
            b[1]
        } else if self.0 > 0xFF {
            b[2]
        } else {
            b[3]
        }
    }

    fn encode(self, out: &mut Vec<u8>) {
        let b = self.0.to_be_bytes();
        let start = if self.0 > 0xFFFF {
            1
        } else if self.0 > 0xFF {
            2
        } else {
            3
        };
        out.extend_from_slice(&b[start..]);
    }
}

/// One data object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tlv {
    pub tag: Tag,
    pub value: Vec<u8>,
}

/// Deepest nesting [`Tlv::children`] and [`parse_tree`] follow.
pub const MAX_DEPTH: usize = 8;

impl Tlv {
    /// A data object.
    #[must_use]
    pub fn new(tag: u32, value: impl Into<Vec<u8>>) -> Self {
        Self {
            tag: Tag(tag),
            value: value.into(),
        }
    }

    /// Tag, length and value.
    pub fn to_bytes(&self) -> Result<Vec<u8>, TlvError> {
        let mut out = Vec::with_capacity(self.value.len() + 6);
        self.tag.encode(&mut out);
        encode_length(self.value.len(), &mut out)?;
        out.extend_from_slice(&self.value);
        Ok(out)
    }

    /// The nested objects of a constructed tag.
    pub fn children(&self) -> Result<Vec<Tlv>, TlvError> {
        parse_all(&self.value)
    }

    /// The first nested object with `tag`.
    pub fn find(&self, tag: u32) -> Result<Option<Tlv>, TlvError> {
        Ok(self.children()?.into_iter().find(|t| t.tag == Tag(tag)))
    }
}

/// Append a BER length.
pub fn encode_length(len: usize, out: &mut Vec<u8>) -> Result<(), TlvError> {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => {
            out.push(0x82);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            out.push(0x83);
            out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
        }
        _ => return Err(TlvError::ValueTooLong { len }),
    }
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, TlvError> {
        let b = *self.bytes.get(self.pos).ok_or(TlvError::Truncated {
            offset: self.pos,
            needed: 1,
        })?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], TlvError> {
        let rest = &self.bytes[self.pos.min(self.bytes.len())..];
        if rest.len() < n {
            return Err(TlvError::Truncated {
                offset: self.pos,
                needed: n - rest.len(),
            });
        }
        self.pos += n;
        Ok(&rest[..n])
    }

    fn tag(&mut self) -> Result<Tag, TlvError> {
        let start = self.pos;
        let first = self.byte()?;
        let mut tag = u32::from(first);
        if first & 0x1F == 0x1F {
            loop {
                if self.pos - start >= 3 {
                    return Err(TlvError::TagTooLong { offset: start });
                }
                let b = self.byte()?;
                tag = (tag << 8) | u32::from(b);
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        Ok(Tag(tag))
    }

    fn length(&mut self) -> Result<usize, TlvError> {
        let offset = self.pos;
        let first = self.byte()?;
        let n = match first {
            0..=0x7F => return Ok(usize::from(first)),
            0x81..=0x83 => usize::from(first & 0x7F),
            byte => return Err(TlvError::BadLength { offset, byte }),
        };
        Ok(self
            .take(n)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)))
    }
}

/// Parse one object at the start of `bytes`; returns it and the rest.
pub fn parse_one(bytes: &[u8]) -> Result<(Tlv, &[u8]), TlvError> {
    let mut r = Reader { bytes, pos: 0 };
    let tag = r.tag()?;
    let len = r.length()?;
    let value = r.take(len)?.to_vec();
    Ok((Tlv { tag, value }, &bytes[r.pos..]))
}

/// Parse a sequence of objects, skipping '00'/'FF' padding between them.
pub fn parse_all(bytes: &[u8]) -> Result<Vec<Tlv>, TlvError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut consumed = 0usize;
    loop {
        let skip = rest
            .iter()
            .take_while(|b| **b == 0x00 || **b == 0xFF)
            .count();
        rest = &rest[skip..];
        consumed += skip;
        if rest.is_empty() {
            return Ok(out);
        }
        let before = rest.len();
        let (tlv, tail) = parse_one(rest).map_err(|e| shift(e, consumed))?;
        consumed += before - tail.len();
        out.push(tlv);
        rest = tail;
    }
}

/// Parse and check every constructed object down to [`MAX_DEPTH`] levels.
pub fn parse_tree(bytes: &[u8]) -> Result<Vec<Tlv>, TlvError> {
    fn walk(tlvs: &[Tlv], depth: usize) -> Result<(), TlvError> {
        if depth > MAX_DEPTH {
            return Err(TlvError::TooDeep { max: MAX_DEPTH });
        }
        for t in tlvs.iter().filter(|t| t.tag.is_constructed()) {
            walk(&t.children()?, depth + 1)?;
        }
        Ok(())
    }
    let top = parse_all(bytes)?;
    walk(&top, 1)?;
    Ok(top)
}

fn shift(e: TlvError, by: usize) -> TlvError {
    match e {
        TlvError::Truncated { offset, needed } => TlvError::Truncated {
            offset: offset + by,
            needed,
        },
        TlvError::TagTooLong { offset } => TlvError::TagTooLong {
            offset: offset + by,
        },
        TlvError::BadLength { offset, byte } => TlvError::BadLength {
            offset: offset + by,
            byte,
        },
        other => other,
    }
}

/// Read a one-octet length then that many bytes (the `L value` items of AUTHENTICATE data).
pub fn read_lv<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], TlvError> {
    let (len, rest) = input.split_first().ok_or(TlvError::Truncated {
        offset: 0,
        needed: 1,
    })?;
    let len = usize::from(*len);
    if rest.len() < len {
        return Err(TlvError::Truncated {
            offset: 1,
            needed: len - rest.len(),
        });
    }
    let (value, tail) = rest.split_at(len);
    *input = tail;
    Ok(value)
}

/// Append a one-octet length and the value.
pub fn write_lv(value: &[u8], out: &mut Vec<u8>) -> Result<(), TlvError> {
    let len = u8::try_from(value.len()).map_err(|_| TlvError::ValueTooLong { len: value.len() })?;
    out.push(len);
    out.extend_from_slice(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        crate::hexutil::parse_hex(s).unwrap_or_default()
    }

    #[test]
    fn parses_an_fcp_template() {
        let fcp = h("621C8202412183026F07A5038001718A01058B036F060280020009880138");
        let top = parse_tree(&fcp).unwrap();
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].tag, Tag(0x62));
        let kids = top[0].children().unwrap();
        assert_eq!(kids[0], Tlv::new(0x82, h("4121")));
        assert_eq!(top[0].find(0x83).unwrap().unwrap().value, h("6F07"));
        assert_eq!(top[0].find(0x80).unwrap().unwrap().value, h("0009"));
    }

    #[test]
    fn multi_octet_tags_and_long_lengths_round_trip() {
        let t = Tlv::new(0x9F1F, vec![0xAB; 200]);
        let bytes = t.to_bytes().unwrap();
        assert_eq!(&bytes[..4], &[0x9F, 0x1F, 0x81, 200]);
        assert_eq!(parse_one(&bytes).unwrap().0, t);
        let big = Tlv::new(0x53, vec![1; 300]).to_bytes().unwrap();
        assert_eq!(&big[..4], &[0x53, 0x82, 0x01, 0x2C]);
    }

    #[test]
    fn padding_is_skipped_and_errors_carry_offsets() {
        let rec = h("800A6E61662E6578616D706C6581024142FFFFFF");
        let items = parse_all(&rec).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            parse_all(&h("FFFF8005AA")),
            Err(TlvError::Truncated {
                offset: 4,
                needed: 4
            })
        );
        assert_eq!(
            parse_all(&h("8080")),
            Err(TlvError::BadLength {
                offset: 1,
                byte: 0x80
            })
        );
        assert_eq!(
            parse_all(&h("5F8F8F0100")),
            Err(TlvError::TagTooLong { offset: 0 })
        );
    }

    #[test]
    fn lv_lists() {
        let data = h("08a54211d5e3ba50bf02AABB");
        let mut rest = data.as_slice();
        assert_eq!(read_lv(&mut rest).unwrap(), &h("a54211d5e3ba50bf")[..]);
        assert_eq!(read_lv(&mut rest).unwrap(), &[0xAA, 0xBB]);
        assert!(rest.is_empty());
        assert!(read_lv(&mut h("05AA").as_slice()).is_err());
    }
}
