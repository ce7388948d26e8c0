//! Benchmarks: Milenage (all functions for one RAND) and one GBA derivation, each against a
//! baseline primitive measured in the same run (one AES-128 block; one HMAC-SHA-256).
//! Criterion prints its estimates; a summary then prints ns/op and the ratios.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use aes::cipher::{BlockEncrypt, KeyInit};
use criterion::Criterion;
use gbau_core::aka::{generate_vector, Amf, Rand};
use gbau_core::identity::{Impi, NafId, UaProtocolId};
use gbau_core::kdf::{kdf, ks_ext_naf};
use gbau_core::milenage::Milenage;
use gbau_core::secret::{Ks, Opc, K};
use gbau_core::sqn::Sqn;

struct Fixture {
    m: Milenage,
    aes: aes::Aes128,
    rand: Rand,
    ks: Ks,
    impi: Impi,
    naf_id: NafId,
}

fn fixture() -> Fixture {
    let k = K::new([0x46; 16]);
    Fixture {
        m: Milenage::new(&k, Opc::new([0xcd; 16])),
        aes: aes::Aes128::new(k.expose().into()),
        rand: Rand([0x23; 16]),
        ks: Ks::new([0xb4; 32]),
        impi: Impi::new("001010000000001@ims.mnc001.mcc001.3gppnetwork.org").unwrap(),
        naf_id: NafId::new("naf.example.org", UaProtocolId::HTTP_DIGEST).unwrap(),
    }
}

fn aes_block(f: &Fixture) -> [u8; 16] {
    let mut b = black_box(f.rand.0);
    f.aes.encrypt_block((&mut b).into());
    b
}

fn milenage_all(f: &Fixture) -> [u8; 16] {
    let av = generate_vector(
        &f.m,
        black_box(&f.rand),
        Sqn::from_bytes([0, 0, 0, 0, 0, 0x20]),
        Amf([0x80, 0]),
    );
    let ak_star = f.m.f5star(&f.rand.0);
    let mut out = av.autn.0;
    out[0] ^= ak_star[0];
    out
}

fn hmac_baseline(f: &Fixture) -> [u8; 32] {
    kdf(f.ks.expose(), 0x01, &[black_box(b"gba-me")]).unwrap()
}

fn gba_derivation(f: &Fixture) -> Ks {
    let key = ks_ext_naf(&f.ks, black_box(&f.rand), &f.impi, &f.naf_id).unwrap();
    Ks::new(*key.expose())
}

fn ns_per_op<T>(iterations: u32, mut op: impl FnMut() -> T) -> f64 {
    for _ in 0..iterations / 10 {
        black_box(op());
    }
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(op());
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

fn main() {
    let f = fixture();
    let mut c = Criterion::default().configure_from_args();
    c.bench_function("baseline/aes128_block", |b| b.iter(|| aes_block(&f)));
    c.bench_function("milenage/all_functions_one_rand", |b| {
        b.iter(|| milenage_all(&f))
    });
    c.bench_function("baseline/hmac_sha256_short", |b| {
        b.iter(|| hmac_baseline(&f))
    });
    c.bench_function("gba/ks_ext_naf", |b| b.iter(|| gba_derivation(&f)));
    c.final_summary();

    let n = 200_000;
    let aes_ns = ns_per_op(n, || aes_block(&f));
    let mil_ns = ns_per_op(n, || milenage_all(&f));
    let hmac_ns = ns_per_op(n, || hmac_baseline(&f));
    let gba_ns = ns_per_op(n, || gba_derivation(&f));
    println!("\nsummary ({n} iterations each, same run):");
    println!("  aes128 block (baseline)         {aes_ns:>9.1} ns/op");
    println!("  milenage, all functions / RAND  {mil_ns:>9.1} ns/op  = {:.1} x one AES block (9 AES encryptions plus XOR/rotate and key zeroizing)", mil_ns / aes_ns);
    println!("  hmac-sha256, short (baseline)   {hmac_ns:>9.1} ns/op");
    println!(
        "  gba ks_ext_naf derivation       {gba_ns:>9.1} ns/op  = {:.2} x the short HMAC",
        gba_ns / hmac_ns
    );
}
