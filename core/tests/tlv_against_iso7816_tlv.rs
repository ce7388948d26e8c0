//! gbau-core's BER-TLV against `iso7816-tlv` 0.4.4, the crate the design names for BER-TLV,
//! written independently of ours.
//!
//! Where both accept an input they must agree on every tag and value (a differential test
//! over generated objects). gbau-core keeps its own parser because of the concrete inputs
//! below, on which `iso7816-tlv` 0.4.4 is wrong; each is named in a test that shows what
//! gbau-core does with it and what the crate does:
//! - `80 80`: the indefinite length form, not allowed in ISO/IEC 7816-4 BER-TLV, is read as a
//!   zero length (and re-encoded as `80 00`);
//! - a template holding a 127-byte value: the value's length is written `81 7F` while the
//!   template's length counts one length octet, so the encoding is one octet longer than its
//!   own length field says;
//! - `62 06 82 02 41 21 FF FF`: padding between the objects inside a template (ISO/IEC 7816-4
//!   §5.2 allows '00'/'FF' before, between and after objects) fails the whole template;
//! - templates nested 16,000 deep in a 65,001-byte input (an extended-length response):
//!   the crate recurses without a limit and overflows a 2 MiB thread stack, aborting the
//!   process. gbau-core stops at 8 levels with an error (not run against the crate here,
//!   since it would abort the test binary).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gbau_core::tlv::{parse_all, parse_one, parse_tree, Tag, Tlv, TlvError, MAX_DEPTH};
use iso7816_tlv::ber;
use proptest::prelude::*;

fn theirs(bytes: &[u8]) -> Result<ber::Tlv, iso7816_tlv::TlvError> {
    ber::Tlv::from_bytes(bytes)
}

/// Their tag as our integer form.
fn their_tag(t: &ber::Tlv) -> u32 {
    t.tag()
        .to_bytes()
        .iter()
        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
}

/// Tags that both sides accept: one octet without the 'more' pattern, or two octets.
fn tag_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![
        (0u32..=0xFF)
            .prop_filter("single octet", |t| t & 0x1F != 0x1F)
            .prop_map(|t| t & !0x20),
        (0x5F1Fu32..=0x5F7F).prop_map(|t| t),
        (0x9F20u32..=0x9F7F).prop_map(|t| t),
    ]
    .prop_filter("not a padding octet", |t| {
        *t != 0x00 && *t != 0xFF && *t != 0x1F
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// What we encode, they parse to the same tag and value.
    #[test]
    fn they_read_what_we_write(tag in tag_strategy(), value in prop::collection::vec(any::<u8>(), 0..400)) {
        let ours = Tlv::new(tag, value.clone()).to_bytes().unwrap();
        let t = theirs(&ours).unwrap();
        prop_assert_eq!(their_tag(&t), tag);
        match t.value() {
            ber::Value::Primitive(v) => prop_assert_eq!(v, &value),
            ber::Value::Constructed(_) => prop_assert!(false, "primitive tag {tag:#x} read as constructed"),
        }
    }

    /// What they encode (lengths other than 127), we parse to the same tag and value.
    #[test]
    fn we_read_what_they_write(tag in tag_strategy(), value in prop::collection::vec(any::<u8>(), 0..400)) {
        prop_assume!(value.len() != 127);
        let t = ber::Tlv::new(ber::Tag::try_from(u64::from(tag)).unwrap(), ber::Value::Primitive(value.clone())).unwrap();
        let encoded = t.to_vec();
        let (ours, rest) = parse_one(&encoded).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(ours.tag, Tag(tag));
        prop_assert_eq!(ours.value, value);
    }

    /// On arbitrary bytes, when both accept one primitive object, they agree on it.
    #[test]
    fn where_both_accept_they_agree(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let (Ok(t), Ok((ours, rest))) = (theirs(&bytes), parse_one(&bytes)) {
            if rest.is_empty() && !ours.tag.is_constructed() {
                prop_assert_eq!(their_tag(&t), ours.tag.0);
                if let ber::Value::Primitive(v) = t.value() {
                    prop_assert_eq!(v, &ours.value);
                }
            }
        }
    }
}

#[test]
fn indefinite_length_is_refused_not_read_as_zero() {
    assert_eq!(
        parse_all(&[0x80, 0x80]),
        Err(TlvError::BadLength {
            offset: 1,
            byte: 0x80
        })
    );
    // iso7816-tlv 0.4.4 reads it as an empty value.
    let t = theirs(&[0x80, 0x80]).unwrap();
    assert_eq!(t.to_vec(), vec![0x80, 0x00]);
}

#[test]
fn a_127_byte_value_inside_a_template_keeps_its_length_consistent() {
    let child = Tlv::new(0x80, vec![0xAB; 127]);
    let inner = child.to_bytes().unwrap();
    assert_eq!(&inner[..2], &[0x80, 0x7F]);
    let parent = Tlv::new(0xA5, inner).to_bytes().unwrap();
    assert_eq!(&parent[..3], &[0xA5, 0x81, 0x81]);
    assert_eq!(parent.len(), 3 + 129);
    let top = parse_tree(&parent).unwrap();
    assert_eq!(top[0].children().unwrap(), vec![child]);
    // iso7816-tlv 0.4.4: 133 octets whose length field says 129 content octets, not 130.
    let c = ber::Tlv::new(
        ber::Tag::try_from(0x80u64).unwrap(),
        ber::Value::Primitive(vec![0xAB; 127]),
    )
    .unwrap();
    let p = ber::Tlv::new(
        ber::Tag::try_from(0xA5u64).unwrap(),
        ber::Value::Constructed(vec![c]),
    )
    .unwrap()
    .to_vec();
    assert_eq!(&p[..6], &[0xA5, 0x81, 0x81, 0x80, 0x81, 0x7F]);
    assert_eq!(p.len(), 133);
}

#[test]
fn padding_inside_a_template_is_skipped() {
    let fcp = [0x62, 0x06, 0x82, 0x02, 0x41, 0x21, 0xFF, 0xFF];
    let top = parse_tree(&fcp).unwrap();
    assert_eq!(
        top[0].children().unwrap(),
        vec![Tlv::new(0x82, vec![0x41, 0x21])]
    );
    assert!(
        theirs(&fcp).is_err(),
        "iso7816-tlv 0.4.4 fails the padded template"
    );
}

#[test]
fn deep_nesting_is_an_error_on_a_small_stack() {
    let mut nested = vec![0x80, 0x00];
    while nested.len() < 65_000 {
        let l = nested.len();
        let mut o = vec![0x62];
        match l {
            0..=0x7F => o.push(l as u8),
            0x80..=0xFF => o.extend([0x81, l as u8]),
            _ => o.extend([0x82, (l >> 8) as u8, l as u8]),
        }
        o.extend(nested);
        nested = o;
    }
    assert_eq!(nested.len(), 65_001);
    let r = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || parse_tree(&nested))
        .unwrap()
        .join()
        .expect("no stack overflow");
    assert_eq!(r, Err(TlvError::TooDeep { max: MAX_DEPTH }));
}
