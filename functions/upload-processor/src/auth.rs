//! The Lambda authorizer's decision (spec §1.2), for an HTTP API REQUEST authorizer with payload
//! format 2.0 and simple responses (`infra` `HttpApi::add_lambda_authorizer`).
//!
//! [`Verifier`] turns the `Authorization` header into [`Claims`] or an [`AuthError`] that names
//! what was wrong without repeating the token; [`response`] builds the answer API Gateway reads
//! (always authorized, with a `verdict` in the context: docs/upload-processor.md, "Authorization:
//! why invalid tokens reach the handler"), and [`Claims::from_context`] reads the verdict back
//! where the route handlers receive it (`requestContext.authorizer.lambda`), failing closed.

mod claims;
pub mod hs256;
mod response;
mod token;

pub use claims::{ClaimError, Claims, ContextError, Role, VERDICT_INVALID, VERDICT_OK};
pub use response::{authorization_header, response};
pub use token::{AuthError, Verifier};
