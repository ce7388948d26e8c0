//! The soft GBA_U USIM application (TS 31.102, TS 33.220 Annex G). Under construction: see
//! issue 3. The shared algorithms it will call live in `gbau-core`.
