//! AUTHENTICATE (TS 31.102 §7.1.2, TS 31.103 §7.1.2) and its security contexts: 3G, GSM,
//! GBA bootstrapping (TS 33.220 Annex G.2) and GBA NAF derivation (TS 33.220 Annex G.3).

use gbau_core::aka::{Autn, AutnKind, Rand};
use gbau_core::ef::{self, GbaBootstrapParams, GbaNafEntry};
use gbau_core::identity::{BTid, Impi, NafId};
use gbau_core::kdf::{ks_ext_naf, ks_int_naf};
use gbau_core::milenage::{c2_sres, c3_kc};
use gbau_core::secret::Ks;
use gbau_core::tlv::write_lv;
use gbau_core::{ResponseApdu, StatusWord};

use super::{Card, GbaBootstrap, NafKey};
use crate::command::{AuthContext, GbaMode, TAG_AUTH_SUCCESS};
use crate::fs::{Access, App, NodeKind, Structure};

/// IST service of the ISIM that enables the GBA context: GBA is ISIM service 2 (TS 31.103
/// §4.2.7; pySim's EF_IST map says the same).
pub const ISIM_SERVICE_GBA: u16 = 2;

impl Card {
    fn current_app(&self) -> Option<(usize, App)> {
        let adf = self.volatile.current_adf?;
        match &self.tree.nodes[adf].kind {
            NodeKind::Adf { app, .. } => Some((adf, *app)),
            _ => None,
        }
    }

    fn service_on(&self, app: App, service: u16) -> bool {
        let (adf, fid) = match app {
            App::Usim => (self.tree.adf(App::Usim), ef::EF_UST),
            App::Isim => (self.tree.adf(App::Isim), ef::EF_IST),
        };
        adf.and_then(|a| self.tree.child(a, fid))
            .is_some_and(|f| ef::service_available(&self.state.files[f], service))
    }

    fn gba_enabled(&self, app: App) -> bool {
        // The SJS1 has no GBA context, whatever its service table says [to confirm on a card].
        if self.profile.layout == crate::profile::Layout::Sjs1 {
            return false;
        }
        match app {
            App::Usim => self.service_on(App::Usim, ef::SERVICE_GBA),
            App::Isim => self.service_on(App::Isim, ISIM_SERVICE_GBA),
        }
    }

    // TS 31.102 §7.1.2 / TS 31.103 §7.1.2, AUTHENTICATE
    pub(super) fn authenticate(&mut self, ctx: AuthContext) -> Result<ResponseApdu, StatusWord> {
        let (adf, app) = self
            .current_app()
            .ok_or(StatusWord::ConditionsOfUseNotSatisfied)?;
        if !self.granted(Access::Pin1) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if self.app_keys(app).problem.is_some() {
            return Err(StatusWord::ConditionsOfUseNotSatisfied);
        }
        self.count_authentication()?;
        match ctx {
            AuthContext::Gsm { rand } => {
                if app != App::Usim || !self.service_on(App::Usim, ef::SERVICE_GSM_ACCESS) {
                    return Err(StatusWord::IncorrectP1P2);
                }
                self.auth_gsm(&rand)
            }
            AuthContext::Umts { rand, autn } => self.auth_umts(app, &Rand(rand), &Autn(autn)),
            AuthContext::Gba(mode) => {
                if !self.gba_enabled(app) {
                    return Err(StatusWord::SecurityContextNotSupported);
                }
                match mode? {
                    GbaMode::Bootstrap { rand, autn } => {
                        self.gba_bootstrap(adf, app, &Rand(rand), &Autn(autn))
                    }
                    GbaMode::NafDerivation { naf_id, impi } => {
                        self.gba_naf_derivation(adf, app, &naf_id, impi.as_deref())
                    }
                }
            }
        }
    }

    // TS 31.102 §7.1.2.2, GSM security context
    fn auth_gsm(&self, rand: &[u8; 16]) -> Result<ResponseApdu, StatusWord> {
        let out = self.app_keys(App::Usim).milenage.f2345(rand);
        let mut data = Vec::with_capacity(14);
        lv(&c2_sres(&out.res), &mut data)?;
        lv(c3_kc(&out.ck, &out.ik).expose(), &mut data)?;
        Self::ok(data)
    }

    // TS 31.102 §7.1.2.1, 3G security context
    fn auth_umts(
        &mut self,
        app: App,
        rand: &Rand,
        autn: &Autn,
    ) -> Result<ResponseApdu, StatusWord> {
        let v = match self.verify_challenge(app, rand, autn, AutnKind::Plain)? {
            Ok(v) => v,
            Err(sync_failure) => return Ok(sync_failure),
        };
        let mut data = vec![TAG_AUTH_SUCCESS];
        lv(self.res_bytes(app, &v), &mut data)?;
        lv(v.ck.expose(), &mut data)?;
        lv(v.ik.expose(), &mut data)?;
        if app == App::Usim && self.service_on(App::Usim, ef::SERVICE_GSM_ACCESS) {
            lv(v.kc().expose(), &mut data)?;
        }
        Self::ok(data)
    }

    // TS 31.102 §7.1.2.4 and TS 33.220 Annex G.2, GBA bootstrapping mode
    fn gba_bootstrap(
        &mut self,
        adf: usize,
        app: App,
        rand: &Rand,
        autn: &Autn,
    ) -> Result<ResponseApdu, StatusWord> {
        let v = match self.verify_challenge(app, rand, autn, AutnKind::GbaU)? {
            Ok(v) => v,
            Err(sync_failure) => return Ok(sync_failure),
        };
        self.state.gba = Some(GbaBootstrap {
            ks: Ks::from_ck_ik(&v.ck, &v.ik),
            rand: *rand,
            app,
        });
        let gbabp = self
            .gbabp_file(adf, app)
            .ok_or(StatusWord::NoPreciseDiagnosis)?;
        let size = self.state.files[gbabp].len();
        let params = GbaBootstrapParams {
            rand: Some(*rand),
            b_tid: String::new(),
            lifetime: String::new(),
        };
        self.state.files[gbabp] =
            ef::encode_gbabp(&params, size).map_err(|_| StatusWord::MemoryProblem)?;
        // TS 33.220 §5.3.2: RES leaves the card with its least significant bit flipped.
        let res = AutnKind::GbaU.res(
            &gbau_core::aka::Res::new(self.res_bytes(app, &v))
                .ok_or(StatusWord::NoPreciseDiagnosis)?,
        );
        let mut data = vec![TAG_AUTH_SUCCESS];
        lv(res.as_bytes(), &mut data)?;
        Self::ok(data)
    }

    /// RES as the card sends it: 4 bytes when a sysmo layout's key file says so.
    fn res_bytes<'v>(&self, app: App, v: &'v gbau_core::aka::VerifiedChallenge) -> &'v [u8] {
        let res = v.res.as_bytes();
        if self.app_keys(app).res_4_bytes {
            &res[..res.len().min(4)]
        } else {
            res
        }
    }

    fn gbabp_file(&self, adf: usize, app: App) -> Option<usize> {
        self.tree.child(
            adf,
            if app == App::Usim {
                ef::EF_GBABP
            } else {
                ef::EF_ISIM_GBABP
            },
        )
    }

    fn gbanl_file(&self, adf: usize, app: App) -> Option<usize> {
        self.tree.child(
            adf,
            if app == App::Usim {
                ef::EF_GBANL
            } else {
                ef::EF_ISIM_GBANL
            },
        )
    }

    fn isim_impi(&self, adf: usize) -> Option<String> {
        let f = self.tree.child(adf, ef::EF_IMPI)?;
        ef::decode_tagged_text("EF_IMPI", &self.state.files[f])
            .ok()
            .flatten()
    }

    // TS 31.102 §7.1.2.4 and TS 33.220 Annex G.3, GBA NAF derivation mode
    fn gba_naf_derivation(
        &mut self,
        adf: usize,
        app: App,
        naf_id: &[u8],
        impi: Option<&[u8]>,
    ) -> Result<ResponseApdu, StatusWord> {
        let Some(boot) = self.state.gba.clone().filter(|g| g.app == app) else {
            return Err(StatusWord::ConditionsOfUseNotSatisfied);
        };
        let impi = match (impi, app) {
            (Some(bytes), _) => {
                let text = std::str::from_utf8(bytes).map_err(|_| StatusWord::IncorrectData)?;
                Impi::new(text).map_err(|_| StatusWord::IncorrectData)?
            }
            (None, App::Isim) => {
                let text = self
                    .isim_impi(adf)
                    .ok_or(StatusWord::ConditionsOfUseNotSatisfied)?;
                Impi::new(&text).map_err(|_| StatusWord::ConditionsOfUseNotSatisfied)?
            }
            (None, App::Usim) => return Err(StatusWord::IncorrectData),
        };
        let naf = NafId::from_bytes(naf_id).map_err(|_| StatusWord::IncorrectData)?;
        let ext =
            ks_ext_naf(&boot.ks, &boot.rand, &impi, &naf).map_err(|_| StatusWord::IncorrectData)?;
        let int =
            ks_int_naf(&boot.ks, &boot.rand, &impi, &naf).map_err(|_| StatusWord::IncorrectData)?;
        let gbabp = self
            .gbabp_file(adf, app)
            .ok_or(StatusWord::NoPreciseDiagnosis)?;
        let b_tid = ef::decode_gbabp(&self.state.files[gbabp])
            .map(|p| p.b_tid)
            .unwrap_or_default();
        let b_tid = if b_tid.is_empty() || BTid::new(&b_tid).is_err() {
            String::new()
        } else {
            b_tid
        };

        let gbanl = self
            .gbanl_file(adf, app)
            .ok_or(StatusWord::NoPreciseDiagnosis)?;
        let record_len = match self.tree.nodes[gbanl].kind {
            NodeKind::Ef {
                structure: Structure::LinearFixed { record_len },
                ..
            } => record_len,
            _ => return Err(StatusWord::NoPreciseDiagnosis),
        };
        let record = ef::encode_gbanl_record(
            &GbaNafEntry {
                naf_id: naf_id.to_vec(),
                b_tid: b_tid.clone(),
            },
            record_len,
        )
        .map_err(|_| StatusWord::NotEnoughMemory)?;
        let store = match app {
            App::Usim => &mut self.state.naf_usim,
            App::Isim => &mut self.state.naf_isim,
        };
        let n = store.slot_for(naf_id);
        let slot = store
            .slots
            .get_mut(n - 1)
            .ok_or(StatusWord::NoPreciseDiagnosis)?;
        *slot = Some(NafKey {
            naf_id: naf_id.to_vec(),
            b_tid,
            ks_int_naf: int,
        });
        store.touch(n as u8);
        let start = (n - 1) * record_len;
        self.state.files[gbanl][start..start + record_len].copy_from_slice(&record);
        self.dirty = true;
        let mut data = vec![TAG_AUTH_SUCCESS];
        lv(ext.expose(), &mut data)?;
        Self::ok(data)
    }
}

pub(super) fn lv(value: &[u8], out: &mut Vec<u8>) -> Result<(), StatusWord> {
    write_lv(value, out).map_err(|_| StatusWord::NoPreciseDiagnosis)
}
