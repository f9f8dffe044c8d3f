//! The archive container: header, independently compressed frames, per-entry CRC32, index, trailer.
