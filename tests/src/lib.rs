//! # tests — black-box cluster tests
//!
//! Multi-node clusters of real `kalgo` processes on 127.0.0.1, faults and the
//! real-client suite live here once the node exists (issues 6, 7 and 9).
