//! nestor-api
