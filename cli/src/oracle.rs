//! `gbau calc`: the software oracle. Computes what a card, a BSF and a NAF should compute,
//! from known inputs, so a practitioner can find which value disagrees.

use gbau_core::aka::{generate_vector, Amf, AutnKind, Rand};
use gbau_core::hexutil::to_hex;
use gbau_core::identity::{BTid, Impi, NafId, UaProtocolId};
use gbau_core::kdf::{ks_ext_naf, ks_int_naf, ks_local_mt};
use gbau_core::milenage::{c2_sres, c3_kc, opc_from_op, Milenage, MilenageConstants};
use gbau_core::secret::{Ck, Ik, Ks, Op, Opc, K};
use gbau_core::sqn::Sqn;
use serde::Serialize;

use gbau_host::input::UsageError;

/// OP or OPc, as the user has it.
#[derive(Debug)]
pub enum OperatorKey {
    Op(Op),
    Opc(Opc),
}

/// Inputs of `gbau calc milenage`.
#[derive(Debug)]
pub struct MilenageInput {
    pub k: K,
    pub operator_key: OperatorKey,
    pub rand: Rand,
    pub sqn: Sqn,
    pub amf: Amf,
    pub constants: MilenageConstants,
}

/// Outputs of `gbau calc milenage`; field names are the JSON keys.
#[derive(Debug, Serialize)]
pub struct MilenageReport {
    pub opc: String,
    pub mac_a: String,
    pub mac_s: String,
    pub res: String,
    pub ck: String,
    pub ik: String,
    pub ak: String,
    pub ak_star: String,
    pub autn: String,
    pub autn_gba_u: String,
    /// RES as a GBA_U card answers in the GBA bootstrapping context (last bit flipped).
    pub res_gba_u: String,
    pub kc: String,
    pub sres: String,
}

/// Run Milenage and the AKA assembly.
pub fn milenage(input: &MilenageInput) -> Result<MilenageReport, UsageError> {
    let opc = match &input.operator_key {
        OperatorKey::Op(op) => opc_from_op(&input.k, op),
        OperatorKey::Opc(opc) => opc.clone(),
    };
    let m = Milenage::with_constants(&input.k, opc.clone(), input.constants.clone())
        .map_err(|e| UsageError::new("--r", e.to_string()))?;
    let (mac_a, mac_s) = m.f1_f1star(&input.rand.0, &input.sqn.to_bytes(), &input.amf.0);
    let out = m.f2345(&input.rand.0);
    let av = generate_vector(&m, &input.rand, input.sqn, input.amf);
    Ok(MilenageReport {
        opc: to_hex(opc.expose()),
        mac_a: to_hex(&mac_a),
        mac_s: to_hex(&mac_s),
        res: to_hex(&out.res),
        ck: to_hex(out.ck.expose()),
        ik: to_hex(out.ik.expose()),
        ak: to_hex(&out.ak),
        ak_star: to_hex(&out.ak_star),
        autn: to_hex(&av.autn.0),
        autn_gba_u: to_hex(&AutnKind::GbaU.network_autn(&av.autn, &av.ik).0),
        res_gba_u: to_hex(AutnKind::GbaU.res(&av.xres).as_bytes()),
        kc: to_hex(c3_kc(&out.ck, &out.ik).expose()),
        sres: to_hex(&c2_sres(&out.res)),
    })
}

/// Inputs of `gbau calc gba`.
#[derive(Debug)]
pub struct GbaInput {
    pub ks: Ks,
    pub rand: Rand,
    pub impi: String,
    pub naf_fqdn: String,
    pub ua_protocol: UaProtocolId,
    /// With `device_id`, also derive Ks_local_MT.
    pub b_tid: Option<String>,
    pub device_id: Option<String>,
}

impl GbaInput {
    /// Ks from CK and IK.
    #[must_use]
    pub fn ks_from(ck: &Ck, ik: &Ik) -> Ks {
        Ks::from_ck_ik(ck, ik)
    }
}

/// Outputs of `gbau calc gba`; field names are the JSON keys.
#[derive(Debug, Serialize)]
pub struct GbaReport {
    pub naf_id: String,
    pub ks_ext_naf: String,
    pub ks_int_naf: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ks_local_mt: Option<String>,
}

/// Derive the NAF keys (and Ks_local_MT when asked).
pub fn gba(input: &GbaInput) -> Result<GbaReport, UsageError> {
    let impi = Impi::new(&input.impi).map_err(|e| UsageError::new("--impi", e.to_string()))?;
    let naf_id = NafId::new(&input.naf_fqdn, input.ua_protocol)
        .map_err(|e| UsageError::new("--naf-fqdn", e.to_string()))?;
    let kdf_err = |e: gbau_core::kdf::KdfParameterTooLong| UsageError::new("--impi", e.to_string());
    let ext = ks_ext_naf(&input.ks, &input.rand, &impi, &naf_id).map_err(kdf_err)?;
    let int = ks_int_naf(&input.ks, &input.rand, &impi, &naf_id).map_err(kdf_err)?;
    let ks_local_mt = match (&input.b_tid, &input.device_id) {
        (Some(b_tid), Some(device)) => {
            let b_tid = BTid::new(b_tid).map_err(|e| UsageError::new("--b-tid", e.to_string()))?;
            let key = ks_local_mt(&ext, &b_tid, &naf_id, device)
                .map_err(|e| UsageError::new("--device-id", e.to_string()))?;
            Some(to_hex(key.expose()))
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(UsageError::new(
                "--b-tid",
                "needs --device-id too (Ks_local_MT)",
            ))
        }
        (None, Some(_)) => {
            return Err(UsageError::new(
                "--device-id",
                "needs --b-tid too (Ks_local_MT)",
            ))
        }
    };
    Ok(GbaReport {
        naf_id: to_hex(&naf_id.to_bytes()),
        ks_ext_naf: to_hex(ext.expose()),
        ks_int_naf: to_hex(int.expose()),
        ks_local_mt,
    })
}
