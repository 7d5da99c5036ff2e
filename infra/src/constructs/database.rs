//! Aurora PostgreSQL Serverless v2: encrypted storage, the master password managed by RDS in
//! Secrets Manager (never in the template), private subnets, snapshot on delete.

use super::{pascal, some, Stack, Vpc};
use crate::cfn::rds::db_cluster::{CfnDbCluster, ServerlessV2ScalingConfiguration};
use crate::cfn::rds::db_instance::CfnDbInstance;
use crate::cfn::rds::db_subnet_group::CfnDbSubnetGroup;
use crate::cfn::{get_att, r#ref, Val};

pub struct AuroraServerlessProps {
    pub database_name: String,
    pub min_capacity: f64,
    pub max_capacity: f64,
    pub vpc: Vpc,
    pub deletion_protection: bool,
}

pub struct AuroraServerless {
    pub id: String,
}

impl AuroraServerless {
    pub fn new(stack: &Stack, name: &str, props: AuroraServerlessProps) -> AuroraServerless {
        let id = format!("{}Cluster", pascal(name));
        let subnet_group = format!("{id}SubnetGroup");
        stack.add(
            &subnet_group,
            CfnDbSubnetGroup {
                db_subnet_group_description: some(format!(
                    "Subnets of {}",
                    stack.physical_name(name)
                )),
                subnet_ids: Some(props.vpc.subnet_ids.iter().map(Into::into).collect()),
                ..Default::default()
            },
        );
        stack.add(
            &id,
            CfnDbCluster {
                db_cluster_identifier: some(stack.physical_name(name)),
                engine: some("aurora-postgresql"),
                engine_version: some("17.7"),
                database_name: some(props.database_name),
                master_username: some("postgres"),
                manage_master_user_password: some(true),
                storage_encrypted: some(true),
                deletion_protection: some(props.deletion_protection),
                db_subnet_group_name: some(r#ref(&subnet_group)),
                vpc_security_group_ids: Some(
                    props
                        .vpc
                        .security_group_ids
                        .iter()
                        .map(Into::into)
                        .collect(),
                ),
                serverless_v2_scaling_configuration: Some(ServerlessV2ScalingConfiguration {
                    min_capacity: some(props.min_capacity),
                    max_capacity: some(props.max_capacity),
                    ..Default::default()
                }),
                backup_retention_period: some(7),
                ..Default::default()
            },
        );
        stack.with_resource(&id, |r| r.deletion_policy = Some("Snapshot"));
        stack.suppress(
            "CKV_AWS_162",
            &id,
            "clients authenticate with the master password RDS manages and rotates in Secrets \
             Manager (manage_master_user_password); IAM database tokens are not used",
        );
        stack.add(
            &format!("{id}Writer"),
            CfnDbInstance {
                db_cluster_identifier: some(r#ref(&id)),
                db_instance_class: some("db.serverless"),
                engine: some("aurora-postgresql"),
                ..Default::default()
            },
        );
        stack.suppress(
            "CKV_AWS_118",
            &format!("{id}Writer"),
            "Aurora Serverless v2 publishes capacity, CPU and connection metrics to CloudWatch; \
             OS-level enhanced monitoring would add a monitoring role and per-second log \
             ingestion for a replica loaded by batch jobs",
        );
        let cluster = AuroraServerless { id };
        stack.add_output(
            &format!("{}Endpoint", cluster.id),
            cluster.endpoint(),
            "Writer endpoint",
        );
        stack.add_output(
            &format!("{}MasterSecretArn", cluster.id),
            cluster.master_secret_arn(),
            "RDS-managed master login (for cargo xtask db-prepare)",
        );
        cluster
    }

    pub fn endpoint(&self) -> Val<String> {
        get_att(&self.id, "Endpoint.Address").into()
    }

    /// The RDS-managed master secret (for `cargo xtask db-prepare`, not for functions).
    pub fn master_secret_arn(&self) -> Val<String> {
        get_att(&self.id, "MasterUserSecret.SecretArn").into()
    }
}
