//! The mentorpal upload processor (`docs/upload-processor.md`; the original's behaviour is
//! `../shared/specs/upload-processor.md`).
//!
//! [`auth`] decides the authorizer's answer for a bearer token; [`graphql`] is the client of the
//! mentor GraphQL API; [`geometry`] and [`ffmpeg`] turn a probed clip into the transcode command
//! lines; [`vtt`] turns Transcribe's transcript into WebVTT and checks uploaded subtitles;
//! [`image`] tells what an uploaded image really is.

pub mod api;
pub mod auth;
#[cfg(feature = "fake")]
pub mod fake;
pub mod ffmpeg;
pub mod geometry;
pub mod graphql;
pub mod image;
pub mod steps;
pub mod transcribe;
pub mod transfer;
pub mod vtt;
