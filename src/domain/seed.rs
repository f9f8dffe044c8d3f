//! The seed's JSON shapes for triggers and backup configs, to and from the persisted types.
