//! The services' state machines.

pub mod canvas_data;
pub mod upload_processor;
