//! nestor-validation
