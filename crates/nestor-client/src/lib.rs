//! nestor-client
