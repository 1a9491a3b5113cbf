//! # tests — black-box cluster tests
//!
//! Multi-node clusters of real `kalgo` processes on 127.0.0.1 ([`cluster`]), faults
//! and the real-client suite.

pub mod cluster;
