//! The checks of a challenge before any context answers it (TS 33.102 §6.3.3): AUTN's MAC,
//! the AMF policy, SQN freshness (Annex C) with AUTS on a stale SQN (§6.3.5). The sysmo
//! cards bend them as their files say (pySim / sysmo-usim-tool models of EF.USIM_SQN and
//! EF_AC): the SJA2/SJA5 skip the next SQN check once while AF30 flag1 b7 is set (as
//! delivered), and conceal SQN with AK in AUTN and AUTS only when flag2 says so; the SJS1
//! counts authentications in ADF.USIM 00FE.

use gbau_core::aka::{build_auts, verify_autn, Amf, Autn, AutnKind, Auts, Rand, VerifiedChallenge};
use gbau_core::sqn::Sqn;
use gbau_core::sysmo;
use gbau_core::{ResponseApdu, StatusWord};
use tracing::debug;

use super::keys::AppKeys;
use super::Card;
use crate::command::TAG_SYNC_FAILURE;
use crate::fs::App;
use crate::personality;

/// AUTN as the card reads it: with flag2 b0 (conceal AUTN) clear, the first 6 bytes are
/// taken as SQN in clear, so the AUTN a standard network sends (SQN ⊕ AK) is read as if it
/// were unmasked with AK first.
fn autn_as_read(keys: &AppKeys, rand: &Rand, autn: &Autn) -> Autn {
    if keys.sqn_flag2 & sysmo::SQN_FLAG2_CONCEAL_AUTN != 0 {
        return *autn;
    }
    let ak = keys.milenage.f2345(&rand.0).ak;
    let mut seen = *autn;
    for (b, a) in seen.0.iter_mut().zip(ak) {
        *b ^= a;
    }
    seen
}

/// AUTS as the card builds it: SQN_MS ⊕ AK* unless flag2 b1 (conceal AUTS) is clear, MAC-S
/// over AMF 0000 unless flag2 b2 keeps the challenge's AMF.
fn auts(keys: &AppKeys, rand: &Rand, sqn_ms: Sqn, amf: Amf) -> Auts {
    let m = &keys.milenage;
    let mut auts = build_auts(m, rand, sqn_ms);
    if keys.sqn_flag2 & sysmo::SQN_FLAG2_KEEP_AMF_FOR_MAC_S != 0 {
        let (_, mac_s) = m.f1_f1star(&rand.0, &sqn_ms.to_bytes(), &amf.0);
        auts.0[6..].copy_from_slice(&mac_s);
    }
    if keys.sqn_flag2 & sysmo::SQN_FLAG2_CONCEAL_AUTS == 0 {
        auts.0[..6].copy_from_slice(&sqn_ms.to_bytes());
    }
    auts
}

impl Card {
    /// Verify AUTN (MAC first: '9862'), check AMF policy, then SQN freshness. On a stale SQN
    /// the answer is `DC 0E AUTS` and nothing changes; on success the SQN is recorded. A
    /// pending skip (SJA2/SJA5 AF30 flag1 b7) accepts any SQN once and is then cleared in
    /// the file, which is saved with the rest of the state.
    pub(super) fn verify_challenge(
        &mut self,
        app: App,
        rand: &Rand,
        autn: &Autn,
        kind: AutnKind,
    ) -> Result<Result<VerifiedChallenge, ResponseApdu>, StatusWord> {
        let keys = self.app_keys(app);
        let seen = autn_as_read(keys, rand, autn);
        let v = verify_autn(&keys.milenage, rand, &seen, kind)
            .map_err(|_| StatusWord::AuthenticationErrorIncorrectMac)?;
        if !self.profile.amf_allowed.is_empty() && !self.profile.amf_allowed.contains(&v.amf.0) {
            debug!(amf = %hex::encode(v.amf.0), "AMF not allowed by the profile");
            return Err(StatusWord::AuthenticationErrorIncorrectMac);
        }
        let mut sqn = self.sqn_array(app);
        let files = personality::Files {
            tree: &self.tree,
            contents: &self.state.files,
        };
        let skip = personality::pending_skip(self.profile.layout, files, app);
        if skip.is_some() {
            debug!("SQN check skipped once (EF.USIM_SQN flag1 b7)");
        } else if let Err(e) = sqn.check(v.sqn) {
            debug!(reason = %e, "synchronisation failure");
            let auts = auts(keys, rand, sqn.sqn_ms(), v.amf);
            let mut data = vec![TAG_SYNC_FAILURE];
            super::auth::lv(&auts.0, &mut data)?;
            return Ok(Err(ResponseApdu::new(data, StatusWord::Ok)));
        }
        sqn.accept(v.sqn);
        self.store_sqn(app, sqn);
        if let Some(flag1) = skip.and_then(|i| self.state.files[i].first_mut()) {
            *flag1 &= !sysmo::SQN_SKIP_NEXT_CHECK;
        }
        self.dirty = true;
        Ok(Ok(v))
    }

    /// SJS1: the authentication counter (ADF.USIM 00FE, sysmo-usim-tool): FFFFFFFF counts
    /// nothing, 00000000 refuses AUTHENTICATE ('6983' **[to confirm the status word]**),
    /// any other value is the number left and goes down by one.
    pub(super) fn count_authentication(&mut self) -> Result<(), StatusWord> {
        let Some(index) = personality::auth_counter(self.profile.layout, &self.tree) else {
            return Ok(());
        };
        let file = &mut self.state.files[index];
        let Some(Ok(bytes)) = file.get(..4).map(<[u8; 4]>::try_from) else {
            return Ok(());
        };
        match u32::from_be_bytes(bytes) {
            sysmo::SJS1_AC_DISABLED => Ok(()),
            sysmo::SJS1_AC_LOCKED => Err(StatusWord::AuthMethodBlocked),
            left => {
                file[..4].copy_from_slice(&(left - 1).to_be_bytes());
                self.dirty = true;
                Ok(())
            }
        }
    }
}
