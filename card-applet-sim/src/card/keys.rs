//! The keys AUTHENTICATE uses in each application: the profile's in the standard layout;
//! in a sysmo layout what the proprietary files say (`crate::personality`), read again when
//! one of them is written. On the SJA2/SJA5 the ISIM has its own AF20 and AF30 (pySim
//! dumps), so its keys, SQN policy and freshness array are its own.

use gbau_core::milenage::{Milenage, MilenageError};
use gbau_core::sqn::SqnArray;
use gbau_core::sysmo;
use tracing::debug;

use super::Card;
use crate::fs::App;
use crate::personality::{self, Written};
use crate::profile::{Layout, Profile};

/// The keys of one application.
#[derive(Debug)]
pub(super) struct AppKeys {
    pub milenage: Milenage,
    /// EF.USIM_AUTH_KEY asks for 4-byte RES.
    pub res_4_bytes: bool,
    /// EF.USIM_SQN flag2 (SJA2/SJA5): whether SQN is concealed with AK in AUTN and AUTS.
    pub sqn_flag2: u8,
    /// The SQN policy of the application's SQN file (the profile's in the standard layout).
    pub policy: gbau_core::sqn::SqnPolicy,
    /// Sysmo layouts: why the key files cannot be used, if they cannot (AUTHENTICATE then
    /// answers '6985').
    pub problem: Option<String>,
}

impl AppKeys {
    /// The profile's keys.
    pub(super) fn from_profile(profile: &Profile) -> Result<Self, MilenageError> {
        Ok(Self {
            milenage: Milenage::with_constants(
                &profile.k,
                profile.opc.clone(),
                profile.milenage.clone(),
            )?,
            res_4_bytes: false,
            sqn_flag2: sysmo::SQN_FLAG2_STANDARD,
            policy: profile.sqn_policy,
            problem: None,
        })
    }
}

impl Card {
    /// The keys AUTHENTICATE uses in `app`.
    pub(super) fn app_keys(&self, app: App) -> &AppKeys {
        match (app, &self.isim_keys) {
            (App::Isim, Some(keys)) => keys,
            _ => &self.usim_keys,
        }
    }

    /// True when `app` keeps its own SQN array in its own SQN file (the SJA2/SJA5 ISIM).
    pub(super) fn own_sqn_file(&self, app: App) -> bool {
        app == App::Isim && self.isim_keys.is_some()
    }

    /// Sysmo layouts: the application's keys, Milenage constants and SQN policy are what its
    /// proprietary files say (`gbau_core::sysmo`); `sqn_from_file` also takes the freshness
    /// array from the SQN file (after the file was written). The ISIM has keys of its own
    /// only on the SJA2/SJA5.
    pub(super) fn load_sysmo_keys(&mut self, app: App, sqn_from_file: bool) {
        let Some(model) = self.profile.layout.sysmo_model() else {
            return;
        };
        let own = matches!(self.profile.layout, Layout::Sja2 | Layout::Sja5)
            && self.tree.adf(App::Isim).is_some();
        if app == App::Isim && !own {
            return;
        }
        let files = personality::Files {
            tree: &self.tree,
            contents: &self.state.files,
        };
        let keys = match personality::keys(model, files, app) {
            Ok(k) => AppKeys {
                milenage: k.milenage,
                res_4_bytes: k.res_4_bytes,
                sqn_flag2: k.sqn_flag2,
                policy: k.policy,
                problem: None,
            },
            Err(problem) => {
                debug!(%problem, ?app, "key files not usable");
                let old = self.app_keys(app);
                AppKeys {
                    milenage: old.milenage.clone(),
                    res_4_bytes: old.res_4_bytes,
                    sqn_flag2: old.sqn_flag2,
                    policy: old.policy,
                    problem: Some(problem),
                }
            }
        };
        if app == App::Usim {
            let mut slots = *self.state.sqn.slots();
            if sqn_from_file {
                let layout = self.profile.layout;
                if let Err(problem) = personality::read_sqn_array(layout, files, app, &mut slots) {
                    debug!(%problem, "SQN array not readable");
                }
            }
            self.state.sqn = SqnArray::from_parts(slots, keys.policy);
            self.usim_keys = keys;
        } else {
            self.isim_keys = Some(keys);
        }
    }

    /// The SQN array that checks a challenge in `app`: the card's, or on the SJA2/SJA5 ISIM
    /// the one its own SQN file holds.
    pub(super) fn sqn_array(&self, app: App) -> SqnArray {
        if !self.own_sqn_file(app) {
            return self.state.sqn.clone();
        }
        let files = personality::Files {
            tree: &self.tree,
            contents: &self.state.files,
        };
        let mut slots = [0; gbau_core::sqn::IND_SLOTS];
        if let Err(problem) =
            personality::read_sqn_array(self.profile.layout, files, app, &mut slots)
        {
            debug!(%problem, "ISIM SQN array not readable");
        }
        SqnArray::from_parts(slots, self.app_keys(app).policy)
    }

    /// Keep the SQN array after a challenge was accepted in `app`; sysmo layouts: the SQN
    /// file shows it.
    pub(super) fn store_sqn(&mut self, app: App, sqn: SqnArray) {
        let holder = if self.own_sqn_file(app) {
            App::Isim
        } else {
            self.state.sqn = sqn.clone();
            App::Usim
        };
        personality::mirror_sqn(
            self.profile.layout,
            &self.tree,
            &mut self.state.files,
            holder,
            &sqn,
        );
    }

    /// Sysmo layouts: what writing a proprietary file does to the card's own state.
    pub(super) fn sysmo_written(&mut self, index: usize) {
        match personality::written(self.profile.layout, &self.tree, index) {
            Written::Keys(app) => self.load_sysmo_keys(app, false),
            Written::SqnArray(app) => self.load_sysmo_keys(app, true),
            Written::AllKeys => {
                self.load_sysmo_keys(App::Usim, false);
                self.load_sysmo_keys(App::Isim, false);
            }
            Written::Nothing => {}
        }
    }
}
