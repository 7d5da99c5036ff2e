//! L2 constructs: the safe defaults every service gets without asking, and `grant_*` methods that
//! keep IAM least-privilege. Service code composes these; it never writes resource JSON.

mod alarm;
mod bucket;
mod bucket_cors;
mod database;
pub mod duration;
mod function;
mod http_api;
pub mod iam;
mod kms;
pub mod layer;
pub mod notifications;
mod params;
mod queue;
mod schedule;
mod stack;
mod state_machine;
mod task_token;
mod topic;

pub use alarm::{Alarm, AlarmProps};
pub use bucket::{Bucket, BucketProps};
pub use bucket_cors::BucketCorsRule;
pub use database::{AuroraServerless, AuroraServerlessProps};
pub use function::{AsyncOptions, Function, FunctionProps, Vpc};
pub use http_api::{Authorizer, Cors, HttpApi, HttpApiProps, LambdaAuthorizerProps, RouteAuth};
pub use kms::{Key, KeyProps};
pub use layer::{Architecture, LayerProps, LayerVersion};
pub use notifications::{NotificationFilter, S3Event};
pub use params::{Secret, SsmParameter};
pub use queue::{DeadLetter, DlqWriter, Queue, QueueEncryption, QueueProps};
pub use schedule::{Schedule, ScheduleTarget};
pub use stack::{Finished, FunctionInfo, Stack, StateMachineInfo, Suppression};
pub use state_machine::{Binding, StateMachine};
pub use topic::{Topic, TopicProps};

use crate::cfn::Val;

/// Something whose role can be granted permissions: a function, a state machine.
pub trait Grantee {
    fn stack(&self) -> &Stack;
    fn role_id(&self) -> String;
}

/// `list-tables` → `ListTables`: logical ids are readable and derived from construct names.
pub fn pascal(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            let first = c.next().expect("non-empty").to_ascii_uppercase();
            std::iter::once(first).chain(c).collect::<String>()
        })
        .collect()
}

/// `Some(value.into())`, for the many optional L1 fields.
pub(crate) fn some<T, V: Into<Val<T>>>(v: V) -> Option<Val<T>> {
    Some(v.into())
}

pub(crate) fn grant(grantee: &dyn Grantee, actions: &[&str], resources: Vec<Val<String>>) {
    grantee
        .stack()
        .grant(&grantee.role_id(), iam::Statement::new(actions, resources));
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_props;
#[cfg(test)]
mod tests_upload_constructs;
