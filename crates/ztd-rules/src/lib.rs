//! ztd-rules
