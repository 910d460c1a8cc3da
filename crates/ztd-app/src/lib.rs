//! ztd-app
