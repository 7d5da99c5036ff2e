//! S3 bucket: public access blocked, SSE-S3 encryption, owner-enforced objects, TLS-only policy,
//! retained on stack deletion; optional versioning, expiry, CORS and event notifications to
//! functions and queues (with the invoke permission or queue policy they need, created first).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use serde_json::json;

use super::bucket_cors::{self, BucketCorsRule};
use super::notifications::{overlap, NotificationFilter, S3Event};
use super::{grant, pascal, some, AsyncOptions, Function, Grantee, Queue, QueueEncryption, Stack};
use crate::cfn::lambda::permission::CfnPermission;
use crate::cfn::s3::bucket::{
    BucketEncryption, CfnBucket, FilterRule, LambdaConfiguration, LifecycleConfiguration,
    NotificationConfiguration, NotificationFilter as CfnNotificationFilter, OwnershipControls,
    OwnershipControlsRule, PublicAccessBlockConfiguration, QueueConfiguration, Rule, S3KeyFilter,
    ServerSideEncryptionByDefault, ServerSideEncryptionRule, VersioningConfiguration,
};
use crate::cfn::s3::bucket_policy::CfnBucketPolicy;
use crate::cfn::sqs::queue_policy::CfnQueuePolicy;
use crate::cfn::{get_att, r#ref, sub, Val};

#[derive(Default)]
pub struct BucketProps {
    /// Keep every version of every object. Default: false.
    pub versioned: bool,
    /// Delete objects this long after creation, in whole days (S3 lifecycle's unit). Default:
    /// none, objects are kept.
    pub expire_after: Option<std::time::Duration>,
    /// Refer to the bucket by its physical name (`Fn::Sub`) instead of `Ref`/`Fn::GetAtt` in
    /// [`Bucket::name`], [`Bucket::arn`], [`Bucket::objects_arn`] and so in every grant. Required
    /// for [`Bucket::notify_function`]: the bucket then depends on the function's invoke
    /// permission, so nothing of the function (its role's policy, its environment) may depend on
    /// the bucket, or CloudFormation finds a circular dependency. Default: false.
    pub referenced_by_name: bool,
    /// CORS rules, for browsers that upload or download with presigned URLs straight to the
    /// bucket. Default: none (browsers refuse cross-origin requests). At most 100 rules.
    pub cors: Vec<BucketCorsRule>,
}

/// One entry of the bucket's NotificationConfiguration.
struct Notification {
    /// The function's or queue's logical id, to name it in errors.
    target_id: String,
    target: Target,
    events: Vec<S3Event>,
    filter: NotificationFilter,
}

enum Target {
    Function(Val<String>),
    Queue(Val<String>),
}

#[derive(Default)]
struct Notifications {
    entries: Vec<Notification>,
    /// Functions already granted to S3 for this bucket, and queues whose policy admits it.
    permitted: BTreeSet<String>,
}

#[derive(Clone)]
pub struct Bucket {
    pub id: String,
    stack: Stack,
    /// The bucket name as an `Fn::Sub` template (it ends with `${AWS::AccountId}`).
    physical: String,
    referenced_by_name: bool,
    notifications: Rc<RefCell<Notifications>>,
}

impl Bucket {
    pub fn new(stack: &Stack, name: &str, props: BucketProps) -> Bucket {
        let id = format!("{}Bucket", pascal(name));
        let physical = format!("{}-${{AWS::AccountId}}", stack.physical_name(name));
        if physical.len() - "${AWS::AccountId}".len() + 12 > 63 {
            stack.error(format!(
                "bucket name `{physical}` would exceed S3's 63 characters; shorten `{name}`"
            ));
        }
        let expire_days = props.expire_after.map(|after| {
            let whole_days =
                super::duration::whole(after, super::duration::days(1)).filter(|d| *d >= 1);
            if whole_days.is_none() {
                stack.error(format!(
                    "{id}: expire_after {after:?} is not a whole number of days (at least one)"
                ));
            }
            whole_days.unwrap_or(1)
        });
        let rules = expire_days.map(|days| LifecycleConfiguration {
            rules: Some(vec![Rule {
                id: some(format!("expire-after-{days}-days")),
                status: some("Enabled"),
                expiration_in_days: some(days),
                ..Default::default()
            }]),
            ..Default::default()
        });
        stack.add(
            &id,
            CfnBucket {
                bucket_name: some(sub(physical.clone())),
                public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                    block_public_acls: some(true),
                    block_public_policy: some(true),
                    ignore_public_acls: some(true),
                    restrict_public_buckets: some(true),
                }),
                bucket_encryption: Some(BucketEncryption {
                    server_side_encryption_configuration: Some(vec![ServerSideEncryptionRule {
                        server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                            sse_algorithm: some("AES256"),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                }),
                ownership_controls: Some(OwnershipControls {
                    rules: Some(vec![OwnershipControlsRule {
                        object_ownership: some("BucketOwnerEnforced"),
                    }]),
                }),
                versioning_configuration: props.versioned.then(|| VersioningConfiguration {
                    status: some("Enabled"),
                }),
                lifecycle_configuration: rules,
                cors_configuration: bucket_cors::render(stack, &id, &props.cors),
                ..Default::default()
            },
        );
        stack.with_resource(&id, |r| r.deletion_policy = Some("Retain"));
        let bucket = Bucket {
            id,
            stack: stack.clone(),
            physical,
            referenced_by_name: props.referenced_by_name,
            notifications: Rc::default(),
        };
        stack.add(
            &format!("{}Policy", bucket.id),
            CfnBucketPolicy {
                bucket: some(r#ref(&bucket.id)),
                policy_document: Some(json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": { "AWS": "*" },
                        "Action": "s3:*",
                        "Resource": [bucket.arn().to_json(), bucket.objects_arn("").to_json()],
                        "Condition": { "Bool": { "aws:SecureTransport": "false" } }
                    }]
                })),
            },
        );
        bucket
    }

    pub fn name(&self) -> Val<String> {
        if self.referenced_by_name {
            return sub(self.physical.clone()).into();
        }
        r#ref(&self.id).into()
    }

    pub fn arn(&self) -> Val<String> {
        if self.referenced_by_name {
            return self.arn_by_name();
        }
        get_att(&self.id, "Arn").into()
    }

    /// The ARN built from the physical name, which depends on nothing in the stack.
    pub fn arn_by_name(&self) -> Val<String> {
        sub(format!("arn:${{AWS::Partition}}:s3:::{}", self.physical)).into()
    }

    /// Objects under `prefix` (empty for all).
    pub fn objects_arn(&self, prefix: &str) -> Val<String> {
        if self.referenced_by_name {
            return sub(format!(
                "arn:${{AWS::Partition}}:s3:::{}/{prefix}*",
                self.physical
            ))
            .into();
        }
        sub(format!("${{{}.Arn}}/{prefix}*", self.id)).into()
    }

    pub fn grant_read(&self, grantee: &dyn Grantee) {
        grant(grantee, &["s3:GetObject"], vec![self.objects_arn("")]);
        grant(grantee, &["s3:ListBucket"], vec![self.arn()]);
    }

    pub fn grant_write(&self, grantee: &dyn Grantee) {
        grant(
            grantee,
            &["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject"],
            vec![self.objects_arn("")],
        );
    }

    pub fn grant_read_write(&self, grantee: &dyn Grantee) {
        self.grant_read(grantee);
        self.grant_write(grantee);
    }

    /// Invoke `function` for `events` on keys matching `filter`. Adds the invoke permission for
    /// S3 (scoped to this bucket and account) and makes the bucket depend on it, since S3 checks
    /// the destination when the configuration is written. S3 invokes asynchronously, so the
    /// function gets its on-failure DLQ ([`Function::invoked_async`]). Needs
    /// `BucketProps.referenced_by_name`; refused when it would overlap another notification.
    pub fn notify_function(
        &self,
        function: &Function,
        events: &[S3Event],
        filter: NotificationFilter,
    ) {
        if !self.referenced_by_name {
            self.stack.error(format!(
                "{}: notify_function({}) needs `referenced_by_name: true` in the bucket's props: the \
                 bucket depends on the function's invoke permission, so the function's role and \
                 environment must name the bucket without referring to the resource",
                self.id, function.id
            ));
        }
        if !self.accept(&function.id, events, &filter) {
            return;
        }
        let permission_id = format!("{}{}Permission", self.id, function.id);
        if self
            .notifications
            .borrow_mut()
            .permitted
            .insert(function.id.clone())
        {
            self.stack.add(
                &permission_id,
                CfnPermission {
                    action: some("lambda:InvokeFunction"),
                    function_name: some(r#ref(&function.id)),
                    principal: some("s3.amazonaws.com"),
                    // By name: a GetAtt of the bucket would make the permission depend on the
                    // bucket, which depends on the permission. The account pins the name to ours,
                    // since bucket names are global and can be taken over after deletion.
                    source_arn: some(self.arn_by_name()),
                    source_account: some(r#ref("AWS::AccountId")),
                    ..Default::default()
                },
            );
            self.stack.with_resource(&self.id, |r| {
                r.depends_on.insert(permission_id);
            });
            function.invoked_async(AsyncOptions::default());
        }
        self.record(Notification {
            target_id: function.id.clone(),
            target: Target::Function(function.arn()),
            events: events.to_vec(),
            filter,
        });
    }

    /// Send `events` on keys matching `filter` to `queue`. Adds (or extends) the queue's policy
    /// to admit S3 from this bucket and account, which the bucket depends on. S3 cannot use the
    /// AWS-managed `aws/sqs` key, so the queue needs SQS-managed SSE or a customer [`Key`], whose
    /// policy this admits S3 to (`kms:GenerateDataKey`, `kms:Decrypt`).
    ///
    /// [`Key`]: super::Key
    pub fn notify_queue(&self, queue: &Queue, events: &[S3Event], filter: NotificationFilter) {
        let other_policy = {
            let inner = self.stack.0.borrow();
            let url = queue.url().to_json();
            let ours = self.queue_policy_id(queue);
            let found = inner
                .template
                .resources_of("AWS::SQS::QueuePolicy")
                .find(|(id, p)| {
                    **id != ours
                        && p.prop("Queues")
                            .and_then(|q| q.as_array())
                            .is_some_and(|q| q.contains(&url))
                })
                .map(|(id, _)| id.clone());
            found
        };
        match queue.encryption() {
            QueueEncryption::AwsManagedKey => self.stack.error(format!(
                "{}: notify_queue({}): the queue is encrypted with the AWS-managed key alias/aws/sqs, \
                 which S3 cannot use; set `encryption: QueueEncryption::SqsManaged` or \
                 `QueueEncryption::Key(key)` in its QueueProps",
                self.id, queue.id
            )),
            QueueEncryption::SqsManaged => {}
            // S3 encrypts the message it sends with the queue's key, as itself.
            QueueEncryption::Key(key) => {
                key.allow_service("s3.amazonaws.com", &["kms:Decrypt", "kms:GenerateDataKey"])
            }
        }
        if let Some(other) = other_policy {
            self.stack.error(format!(
                "{}: notify_queue({}): the queue already has the policy {other}; a queue has one \
                 policy, so a second would replace it",
                self.id, queue.id
            ));
        }
        if !self.accept(&queue.id, events, &filter) {
            return;
        }
        if self
            .notifications
            .borrow_mut()
            .permitted
            .insert(queue.id.clone())
        {
            self.admit_s3(queue);
        }
        self.record(Notification {
            target_id: queue.id.clone(),
            target: Target::Queue(queue.arn()),
            events: events.to_vec(),
            filter,
        });
    }

    fn queue_policy_id(&self, queue: &Queue) -> String {
        format!("{}S3NotificationsPolicy", queue.id)
    }

    /// The queue policy statement for this bucket: one policy per queue, one statement per bucket.
    fn admit_s3(&self, queue: &Queue) {
        let policy_id = self.queue_policy_id(queue);
        let statement = json!({
            "Sid": format!("S3From{}", self.id),
            "Effect": "Allow",
            "Principal": { "Service": "s3.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": queue.arn().to_json(),
            "Condition": {
                "ArnLike": { "aws:SourceArn": self.arn_by_name().to_json() },
                "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } }
            }
        });
        let exists = self
            .stack
            .0
            .borrow()
            .template
            .resources
            .contains_key(&policy_id);
        if exists {
            // Another bucket of this stack notifies the same queue: add this bucket's statement.
            self.stack.with_resource(&policy_id, |r| {
                if let Some(list) = r.properties["PolicyDocument"]["Statement"].as_array_mut() {
                    list.push(statement);
                }
            });
        } else {
            self.stack.add(
                &policy_id,
                CfnQueuePolicy {
                    queues: Some(vec![queue.url()]),
                    policy_document: Some(json!({
                        "Version": "2012-10-17",
                        "Statement": [statement]
                    })),
                    ..Default::default()
                },
            );
        }
        self.stack.with_resource(&self.id, |r| {
            r.depends_on.insert(policy_id);
        });
    }

    /// Validate a new notification against the bucket's others; false when it cannot be added.
    fn accept(&self, target: &str, events: &[S3Event], filter: &NotificationFilter) -> bool {
        let mut ok = true;
        if events.is_empty() {
            self.stack.error(format!(
                "{}: the notification to {target} names no event type",
                self.id
            ));
            ok = false;
        }
        for (what, value) in [("prefix", &filter.prefix), ("suffix", &filter.suffix)] {
            if value.len() > 1024 {
                self.stack.error(format!(
                    "{}: the notification to {target} has a {what} over S3's 1,024 bytes",
                    self.id
                ));
                ok = false;
            }
        }
        for other in &self.notifications.borrow().entries {
            if let Some((a, b)) = overlap((&other.events, &other.filter), (events, filter)) {
                self.stack.error(format!(
                    "{}: the notifications to {} ({a}, {}) and to {target} ({b}, {filter}) overlap: \
                     some key matches both filters for the same event, and S3 refuses the \
                     configuration (\"Configurations overlap\"). Narrow a prefix or suffix so no \
                     key matches both, or send both to one destination",
                    self.id, other.target_id, other.filter
                ));
                ok = false;
            }
        }
        ok
    }

    /// Add the notification and render the bucket's NotificationConfiguration from all of them.
    fn record(&self, notification: Notification) {
        let mut state = self.notifications.borrow_mut();
        state.entries.push(notification);
        let mut lambdas = Vec::new();
        let mut queues = Vec::new();
        for n in &state.entries {
            let filter = key_filter(&n.filter);
            for event in &n.events {
                match &n.target {
                    Target::Function(arn) => lambdas.push(LambdaConfiguration {
                        event: some(event.as_str()),
                        filter: filter.clone(),
                        function: Some(arn.clone()),
                    }),
                    Target::Queue(arn) => queues.push(QueueConfiguration {
                        event: some(event.as_str()),
                        filter: filter.clone(),
                        queue: Some(arn.clone()),
                    }),
                }
            }
        }
        let config = NotificationConfiguration {
            lambda_configurations: (!lambdas.is_empty()).then_some(lambdas),
            queue_configurations: (!queues.is_empty()).then_some(queues),
            ..Default::default()
        };
        let config = serde_json::to_value(config).expect("serializable");
        self.stack.with_resource(&self.id, |r| {
            r.properties["NotificationConfiguration"] = config;
        });
    }
}

/// The `Filter` of one configuration; none when it matches every key.
fn key_filter(filter: &NotificationFilter) -> Option<CfnNotificationFilter> {
    let rules: Vec<FilterRule> = [("prefix", &filter.prefix), ("suffix", &filter.suffix)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(name, v)| FilterRule {
            name: some(name),
            value: some(v.as_str()),
        })
        .collect();
    if rules.is_empty() {
        return None;
    }
    Some(CfnNotificationFilter {
        s3_key: Some(S3KeyFilter { rules: Some(rules) }),
    })
}
