//! keyway
