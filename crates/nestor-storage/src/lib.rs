//! nestor-storage
