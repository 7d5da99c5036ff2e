//! Customer-managed KMS key for topics, queues and buckets that AWS services must write to: the
//! AWS-managed keys (`aws/sns`, `aws/sqs`) have fixed policies that admit no service principal,
//! so CloudWatch cannot publish to an `aws/sns` topic and S3 cannot send to an `aws/sqs` queue.
//!
//! Rotation is on; the key policy lets the account administer the key through IAM (so roles are
//! granted with `grant_*` like any other resource) and admits only the services named with
//! [`Key::allow_service`]. By default the key is retained when the stack goes: what it encrypted
//! may outlive it.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{json, Value};

use std::time::Duration;

use super::duration::{days, whole};
use super::{grant, pascal, some, Grantee, Stack};
use crate::cfn::kms::alias::CfnAlias;
use crate::cfn::kms::key::CfnKey;
use crate::cfn::{get_att, r#ref, Val};

pub struct KeyProps {
    /// What the key protects, shown in the console. Default: "<stack> <name>".
    pub description: String,
    /// Time between scheduling the key's deletion and its deletion, during which it can be
    /// recovered. Default: 30 days. Range: 7 to 30 whole days.
    pub pending_window: Duration,
    /// Keep the key when the stack is deleted (`DeletionPolicy: Retain`), since data it
    /// encrypted may outlive the stack; a retained key costs 1 USD a month until someone
    /// schedules its deletion. Default: true. Set false for a key that protects only messages in
    /// flight (the alarm topic's): deleting the stack then schedules the key's deletion.
    pub retain: bool,
}

impl Default for KeyProps {
    fn default() -> Self {
        KeyProps {
            description: String::new(),
            pending_window: days(30),
            retain: true,
        }
    }
}

/// A service principal and the KMS actions it may use.
type ServiceUse = (String, Vec<String>);

#[derive(Clone)]
pub struct Key {
    stack: Stack,
    /// Logical id of the key resource.
    pub id: String,
    /// The services the key policy admits, in the order they were added.
    services: Rc<RefCell<Vec<ServiceUse>>>,
}

impl Key {
    pub fn new(stack: &Stack, name: &str, props: KeyProps) -> Key {
        let id = format!("{}Key", pascal(name));
        let window = whole(props.pending_window, days(1)).filter(|d| (7..=30).contains(d));
        if window.is_none() {
            stack.error(format!(
                "{id}: pending_window {:?} is not 7 to 30 whole days (KMS's range)",
                props.pending_window
            ));
        }
        let description = if props.description.is_empty() {
            format!("{} {name}", stack.name())
        } else {
            props.description
        };
        stack.add(
            &id,
            CfnKey {
                description: some(description),
                enable_key_rotation: some(true),
                pending_window_in_days: some(window.unwrap_or(30)),
                key_policy: Some(key_policy(&[])),
                ..Default::default()
            },
        );
        if props.retain {
            stack.with_resource(&id, |r| r.deletion_policy = Some("Retain"));
        }
        Key {
            stack: stack.clone(),
            id,
            services: Rc::default(),
        }
    }

    /// The key's ARN, for grants and for `KmsMasterKeyId`/`KMSMasterKeyID` properties.
    pub fn arn(&self) -> Val<String> {
        get_att(&self.id, "Arn").into()
    }

    /// The key id (what `Ref` returns).
    pub fn key_id(&self) -> Val<String> {
        r#ref(&self.id).into()
    }

    /// Name the key `alias/<service>-<name>-<stage>` (free; the console and CLI show it), as the
    /// resource `<Key><Name>Alias`. `name`: letters, digits, `-` and `_`.
    pub fn alias(&self, name: &str) -> String {
        let alias = format!("alias/{}", self.stack.physical_name(name));
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || alias.len() > 256
        {
            self.stack.error(format!(
                "{}: alias `{name}` must be letters, digits, `-` and `_`, and `{alias}` at most 256 \
                 characters",
                self.id
            ));
        }
        self.stack.add(
            &format!("{}{}Alias", self.id, pascal(name)),
            CfnAlias {
                alias_name: some(alias.clone()),
                target_key_id: some(self.key_id()),
            },
        );
        alias
    }

    /// Admit an AWS service to use the key for `actions`: `cloudwatch.amazonaws.com` with
    /// `kms:Decrypt` and `kms:GenerateDataKey` to publish alarms to a topic under this key,
    /// `s3.amazonaws.com` with the same to send event notifications to a queue under it. No
    /// source condition is added: not every service sends `aws:SourceAccount` to KMS, and one it
    /// does not send would silently stop delivery.
    pub fn allow_service(&self, principal: &str, actions: &[&str]) {
        if !principal.ends_with(".amazonaws.com") || principal.contains('*') {
            self.stack.error(format!(
                "{}: allow_service(`{principal}`): a service principal looks like \
                 `cloudwatch.amazonaws.com`",
                self.id
            ));
        }
        if actions.is_empty() {
            self.stack.error(format!(
                "{}: allow_service(`{principal}`) names no action",
                self.id
            ));
        }
        for a in actions {
            if !a.starts_with("kms:") || a.contains('*') {
                self.stack.error(format!(
                    "{}: allow_service(`{principal}`): `{a}` is not one KMS action (`kms:Decrypt`, \
                     `kms:GenerateDataKey`, …); wildcards are refused",
                    self.id
                ));
            }
        }
        let mut actions: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
        actions.sort();
        actions.dedup();
        let mut services = self.services.borrow_mut();
        match services.iter_mut().find(|(p, _)| p == principal) {
            Some((_, existing)) => {
                existing.extend(actions);
                existing.sort();
                existing.dedup();
            }
            None => services.push((principal.to_string(), actions)),
        }
        let policy = key_policy(&services);
        self.stack.with_resource(&self.id, |r| {
            r.properties["KeyPolicy"] = policy;
        });
    }

    /// Let `grantee` encrypt and decrypt with the key (send to and receive from a queue or topic
    /// under it, read and write objects encrypted with it).
    pub fn grant_encrypt_decrypt(&self, grantee: &dyn Grantee) {
        grant(
            grantee,
            &["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            vec![self.arn()],
        );
    }

    /// Let `grantee` only decrypt (a consumer of a queue under the key).
    pub fn grant_decrypt(&self, grantee: &dyn Grantee) {
        grant(grantee, &["kms:Decrypt"], vec![self.arn()]);
    }
}

/// The account administers the key through IAM; each admitted service uses it for its actions.
/// In a key policy `Resource: "*"` means this key, the only resource a key policy can name.
fn key_policy(services: &[ServiceUse]) -> Value {
    let mut statements = vec![json!({
        "Sid": "AccountAdministersTheKeyThroughIam",
        "Effect": "Allow",
        // The account root, as KMS's default key policy and CDK's: without it no IAM policy
        // could grant use of the key, and a key nobody may administer cannot be recovered.
        "Principal": { "AWS": { "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" } },
        "Action": "kms:*",
        "Resource": "*"
    })];
    for (principal, actions) in services {
        statements.push(json!({
            "Sid": format!("Service{}", pascal(principal.trim_end_matches(".amazonaws.com"))),
            "Effect": "Allow",
            "Principal": { "Service": principal },
            "Action": actions,
            "Resource": "*"
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}
