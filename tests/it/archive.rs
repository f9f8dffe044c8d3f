//! Archive container tests.
