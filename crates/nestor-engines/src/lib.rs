//! nestor-engines
