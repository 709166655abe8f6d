//! Code shared by the integration tests.

pub mod recovery;
pub mod smol;
pub mod smol_bulk;
