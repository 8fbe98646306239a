//! MQTT building blocks, `no_std` and allocation-free. The sans-IO client and its async driver
//! (issue #4) build on these; today this module holds topic validation and matching, and the
//! wire primitives (variable byte integers, fixed header, strings) with their malformation checks.

pub mod topic;
pub mod wire;
