//! ztd-server
