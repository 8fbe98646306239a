//! MQTT building blocks, `no_std` and allocation-free. The sans-IO client and its async driver
//! (issue #4) build on these; today this module holds topic validation and matching.

pub mod topic;
