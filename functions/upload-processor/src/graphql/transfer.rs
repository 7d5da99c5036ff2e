//! The transfer routes' operations (spec §2.2), in their own `impl GraphqlClient` block.

#[allow(unused_imports)]
use super::GraphqlClient;
