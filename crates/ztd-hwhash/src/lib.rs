//! ztd-hwhash
