//! ztd-core
