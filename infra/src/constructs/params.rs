//! References to SSM parameters and Secrets Manager secrets that exist outside the stack. Only
//! names reach the template; values are read at run time by the granted function.

use super::{grant, Grantee};
use crate::cfn::{arn_prefix, sub, Val};

#[derive(Debug, Clone)]
pub struct SsmParameter {
    pub name: String,
}

impl SsmParameter {
    pub fn from_name(name: &str) -> SsmParameter {
        SsmParameter { name: name.into() }
    }

    pub fn arn(&self) -> Val<String> {
        let path = self.name.trim_start_matches('/');
        sub(format!("{}parameter/{path}", arn_prefix("ssm"))).into()
    }

    /// Read (and decrypt, for SecureString with the AWS-managed key) exactly this parameter.
    pub fn grant_read(&self, grantee: &dyn Grantee) {
        grant(grantee, &["ssm:GetParameter"], vec![self.arn()]);
    }
}

#[derive(Debug, Clone)]
pub struct Secret {
    pub name: String,
}

impl Secret {
    pub fn from_name(name: &str) -> Secret {
        Secret { name: name.into() }
    }

    /// Secrets Manager appends six random characters to a secret's ARN.
    pub fn arn(&self) -> Val<String> {
        sub(format!(
            "{}secret:{}-??????",
            arn_prefix("secretsmanager"),
            self.name
        ))
        .into()
    }

    pub fn grant_read(&self, grantee: &dyn Grantee) {
        grant(
            grantee,
            &[
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
            ],
            vec![self.arn()],
        );
    }
}
