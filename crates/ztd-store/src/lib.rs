//! ztd-store
