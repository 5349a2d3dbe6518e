//! nestor-catalog
