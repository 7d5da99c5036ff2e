//! Lambda layer from a zip that `cargo xtask build` produces (a static ffmpeg, for instance).
//!
//! Content-addressed like function code: the template never holds the zip's hash. The layer's
//! `Content.S3Key` is a parameter `<Logical>ContentKey` that deploy sets to `assets/<sha256>.zip`
//! in the stage's asset bucket, and the resource's Metadata names the zip ([`ASSET_METADATA`]) so
//! tools find it from the template, as `Binary` does for functions. The parameter does not end in
//! `CodeKey`, so `deploy --hotswap` treats a new layer as a template change (a new layer version
//! and the functions that use it), not as function code.

use serde_json::json;

use super::{pascal, some, Stack};
use crate::cfn::lambda::layer_version::{CfnLayerVersion, Content};
use crate::cfn::{r#ref, Parameter, Template, Val};

/// Metadata key on the layer resource: the zip's path, relative to the workspace root.
pub const ASSET_METADATA: &str = "Asset";
/// Suffix of the stack parameter that receives the zip's content-addressed S3 key.
pub const CONTENT_PARAMETER_SUFFIX: &str = "ContentKey";

/// A processor architecture a layer's binaries run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Arm64,
    X86_64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Arm64 => "arm64",
            Architecture::X86_64 => "x86_64",
        }
    }
}

pub struct LayerProps {
    /// The layer's zip, relative to the workspace root, as `cargo xtask build` writes it (e.g.
    /// `target/layers/ffmpeg.zip`); its contents land under `/opt`. Required: a relative path
    /// ending in `.zip`, without `..`.
    pub asset: String,
    /// Architectures the layer's binaries run on. Default: arm64 only (every function is arm64,
    /// PL008). A function can only use a layer that lists arm64.
    pub compatible_architectures: Vec<Architecture>,
    /// What the layer holds and its pinned version. Default: empty (none). At most 256 characters.
    pub description: String,
    /// The license of what the layer holds: an SPDX identifier or a URL. Default: none. At most
    /// 512 characters.
    pub license_info: Option<String>,
}

impl Default for LayerProps {
    fn default() -> Self {
        LayerProps {
            asset: String::new(),
            compatible_architectures: vec![Architecture::Arm64],
            description: String::new(),
            license_info: None,
        }
    }
}

/// A layer version: `FunctionProps.layers` takes it.
#[derive(Debug, Clone)]
pub struct LayerVersion {
    /// Logical id of the layer version resource.
    pub id: String,
    pub(crate) arm64: bool,
}

impl LayerVersion {
    pub fn new(stack: &Stack, name: &str, props: LayerProps) -> LayerVersion {
        let id = format!("{}Layer", pascal(name));
        let physical = stack.physical_name(name);
        let parameter = format!("{id}{CONTENT_PARAMETER_SUFFIX}");
        let asset = props.asset.trim();
        if asset.is_empty()
            || !asset.ends_with(".zip")
            || asset.starts_with('/')
            || asset.split('/').any(|p| p == "..")
        {
            stack.error(format!(
                "{id}: asset `{asset}` must be the path of a zip relative to the workspace root \
                 (e.g. target/layers/{name}.zip), without `..`"
            ));
        }
        if props.compatible_architectures.is_empty() {
            stack.error(format!(
                "{id}: compatible_architectures is empty; list arm64, which every function uses"
            ));
        }
        if props.description.chars().count() > 256 {
            stack.error(format!(
                "{id}: the description is over Lambda's 256 characters"
            ));
        }
        if props
            .license_info
            .as_ref()
            .is_some_and(|l| l.chars().count() > 512)
        {
            stack.error(format!(
                "{id}: license_info is over Lambda's 512 characters"
            ));
        }
        stack.add_parameter(
            &parameter,
            Parameter {
                type_name: "String".into(),
                description: format!(
                    "S3 key of the {asset} zip in the asset bucket; set by cargo xtask deploy"
                ),
                default: None,
                allowed_pattern: Some("^assets/[0-9a-f]{64}\\.zip$".into()),
            },
        );
        let mut architectures: Vec<&str> = props
            .compatible_architectures
            .iter()
            .map(|a| a.as_str())
            .collect();
        architectures.dedup();
        stack.add(
            &id,
            CfnLayerVersion {
                layer_name: some(physical),
                description: (!props.description.is_empty()).then(|| props.description.into()),
                license_info: props.license_info.map(Into::into),
                compatible_architectures: Some(architectures.iter().map(|a| (*a).into()).collect()),
                compatible_runtimes: Some(vec!["provided.al2023".into()]),
                content: Some(Content {
                    s3_bucket: some(stack.stage().asset_bucket()),
                    s3_key: some(r#ref(&parameter)),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        stack.with_resource(&id, |r| {
            r.metadata.insert(ASSET_METADATA.into(), json!(asset));
        });
        LayerVersion {
            id,
            arm64: props
                .compatible_architectures
                .contains(&Architecture::Arm64),
        }
    }

    /// The layer version's ARN (what `Ref` returns for `AWS::Lambda::LayerVersion`).
    pub fn arn(&self) -> Val<String> {
        r#ref(&self.id).into()
    }
}

/// A layer zip the deploy step must upload: what `deploy` reads from a synthesized template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerAsset {
    pub logical_id: String,
    /// The zip, relative to the workspace root.
    pub asset: String,
    /// The stack parameter to set to `assets/<sha256 of the zip>.zip`.
    pub parameter: String,
}

/// The layers of a template and the parameters their zips' keys go into.
pub fn layer_assets(template: &Template) -> Vec<LayerAsset> {
    template
        .resources_of("AWS::Lambda::LayerVersion")
        .filter_map(|(id, r)| {
            let asset = r.metadata.get(ASSET_METADATA)?.as_str()?.to_string();
            Some(LayerAsset {
                logical_id: id.clone(),
                asset,
                parameter: format!("{id}{CONTENT_PARAMETER_SUFFIX}"),
            })
        })
        .collect()
}
