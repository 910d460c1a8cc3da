//! ztd-formats
