//! The zips a stack's parameters name (function code, layer content), and where their bytes come
//! from: a build here, or a release's checksummed artifacts (`--artifacts DIR`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use infra::constructs::layer::layer_assets;
use infra::SynthesizedStack;
use sha2::{Digest, Sha256};

use super::artifacts;
use crate::build::{self, hex, Asset};
use crate::{project_root, ui};

/// Where the zips' bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Build what changed (cargo-lambda, the layers), as `cargo xtask build` does.
    Build,
    /// The zips and `SHA256SUMS` that `cargo xtask release build` wrote to this directory.
    Artifacts(PathBuf),
}

/// A zip one of a stack's parameters names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeededZip {
    /// The stack parameter that receives `assets/<sha256>.zip`.
    pub parameter: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Function {
        binary: String,
    },
    Layer {
        logical_id: String,
        /// `Metadata.Asset`: the zip relative to the workspace root.
        asset: String,
    },
}

impl NeededZip {
    /// Its file name among release artifacts, which is also how the zips of one deploy are keyed:
    /// `<binary>.zip` for a function, `<name>-layer.zip` for a layer (release build names each zip
    /// by its key in `build::build`'s map, where the ffmpeg layer is `ffmpeg-layer`).
    pub fn artifact(&self) -> String {
        match &self.kind {
            Kind::Function { binary } => format!("{binary}.zip"),
            Kind::Layer { asset, .. } => layer_artifact(asset),
        }
    }

    /// What needs it, for messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Function { binary } => format!("function {binary}"),
            Kind::Layer { logical_id, asset } => format!("layer {logical_id}, {asset}"),
        }
    }
}

/// The zips a synthesized stack's parameters name, in parameter order.
pub fn needed(stack: &SynthesizedStack) -> Vec<NeededZip> {
    let mut zips: Vec<NeededZip> = stack
        .functions
        .iter()
        .map(|f| NeededZip {
            parameter: f.code_parameter.clone(),
            kind: Kind::Function {
                binary: f.binary.clone(),
            },
        })
        .collect();
    zips.extend(
        layer_assets(&stack.template)
            .into_iter()
            .map(|l| NeededZip {
                parameter: l.parameter,
                kind: Kind::Layer {
                    logical_id: l.logical_id,
                    asset: l.asset,
                },
            }),
    );
    zips.sort_by(|a, b| a.parameter.cmp(&b.parameter));
    zips
}

/// The stack parameters: each zip's parameter → its content-addressed key.
pub fn parameters(
    zips: &[NeededZip],
    assets: &BTreeMap<String, Asset>,
) -> Result<BTreeMap<String, String>> {
    zips.iter()
        .map(|z| {
            let asset = assets.get(&z.artifact()).with_context(|| {
                format!(
                    "no zip for {} ({}); this is a bug in deploy",
                    z.describe(),
                    z.artifact()
                )
            })?;
            Ok((z.parameter.clone(), asset.key()))
        })
        .collect()
}

/// Every zip in `zips` (across stacks), keyed by [`NeededZip::artifact`].
pub fn obtain<'a>(
    source: &Source,
    zips: impl IntoIterator<Item = &'a NeededZip>,
) -> Result<BTreeMap<String, Asset>> {
    let zips: BTreeMap<String, &NeededZip> = zips.into_iter().map(|z| (z.artifact(), z)).collect();
    match source {
        Source::Artifacts(dir) => {
            let needed = zips
                .iter()
                .map(|(f, z)| (f.clone(), z.describe()))
                .collect();
            artifacts::verify(dir, &needed)
        }
        Source::Build => {
            let binaries: Vec<String> = zips
                .values()
                .filter_map(|z| match &z.kind {
                    Kind::Function { binary } => Some(binary.clone()),
                    Kind::Layer { .. } => None,
                })
                .collect();
            let built = build::build(&binaries)?;
            let mut assets = BTreeMap::new();
            for (file, z) in &zips {
                let asset = match &z.kind {
                    Kind::Function { binary } => built
                        .get(binary)
                        .cloned()
                        .with_context(|| format!("the build returned no zip for {binary}"))?,
                    Kind::Layer { logical_id, asset } => {
                        let path = layer_zip_path(&project_root(), asset)
                            .with_context(|| format!("layer {logical_id}"))?;
                        hash_layer(&path).with_context(|| format!("layer {logical_id}"))?
                    }
                };
                assets.insert(file.clone(), asset);
            }
            Ok(assets)
        }
    }
}

/// Release artifacts name a layer `<name>-layer.zip` after its asset `<dir>/<name>.zip` (or the
/// content-addressed `<dir>/<name>-<sha256>.zip`).
pub fn layer_artifact(asset: &str) -> String {
    let file = asset.rsplit('/').next().unwrap_or(asset);
    let stem = file.strip_suffix(".zip").unwrap_or(file);
    let name = split_content_address(stem).map_or(stem, |(name, _)| name);
    format!("{name}-layer.zip")
}

/// `ffmpeg-<64 hex>` → (`ffmpeg`, hash).
fn split_content_address(stem: &str) -> Option<(&str, &str)> {
    let (name, hash) = stem.rsplit_once('-')?;
    (hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then_some((name, hash))
}

/// Where the layer zip a template's `Metadata.Asset` names is on disk. `xtask/src/layers/`
/// writes content-addressed zips, `<dir>/<name>-<sha256>.zip` (one per name; it removes older
/// ones), so the asset `<dir>/<name>.zip` is that file when it exists, else its one
/// content-addressed sibling. Deploy owns this rule so that neither the template nor the layer
/// build has to know the other's naming.
pub fn layer_zip_path(root: &Path, asset: &str) -> Result<PathBuf> {
    let exact = root.join(asset);
    if exact.is_file() {
        return Ok(exact);
    }
    let dir = exact.parent().unwrap_or(root);
    let stem = exact
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".zip"))
        .with_context(|| format!("the layer asset `{asset}` is not a .zip"))?;
    let mut candidates: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".zip"))
                .and_then(split_content_address)
                .is_some_and(|(name, _)| name == stem)
        })
        .collect();
    candidates.sort();
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => bail!(
            "its zip {asset} is missing (nor is there a {}/{stem}-<sha256>.zip)\n  fix: `cargo xtask build` \
             writes the layer zips (xtask/src/layers/), or pass --artifacts with a release build's directory",
            dir.strip_prefix(root).unwrap_or(dir).display()
        ),
        _ => bail!(
            "{asset} matches {} content-addressed zips ({}); which one to deploy is ambiguous\n  \
             fix: delete them and run `cargo xtask build`, which writes one",
            candidates.len(),
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Hash a layer zip like the build hashes function zips; a content-addressed name must agree
/// with the bytes (a zip truncated or edited after the build is refused, not deployed).
fn hash_layer(path: &Path) -> Result<Asset> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let sha256 = hex(&Sha256::digest(&bytes));
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".zip"));
    if let Some((_, named)) = stem.and_then(split_content_address) {
        if named != sha256 {
            bail!(
                "{} hashes to {sha256}, not the sha256 in its name\n  fix: delete it and run `cargo xtask build`",
                path.display()
            );
        }
    }
    let root = project_root();
    let asset = Asset {
        path: path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string(),
        sha256,
        size: bytes.len() as u64,
    };
    ui::ok(format!(
        "layer zip {} ({} bytes, sha256 {})",
        asset.path,
        asset.size,
        &asset.sha256[..16]
    ));
    Ok(asset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack_with_layer(asset: &str) -> SynthesizedStack {
        crate::deploy::stack_deploy::tests::synth_with_layer("demo", asset)
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-zips-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    #[test]
    fn a_stack_with_a_layer_needs_its_zip_and_sets_its_content_key() {
        let s = stack_with_layer("target/lambda/layers/ffmpeg.zip");
        let zips = needed(&s);
        assert_eq!(
            zips,
            [
                NeededZip {
                    parameter: "FfmpegLayerContentKey".into(),
                    kind: Kind::Layer {
                        logical_id: "FfmpegLayer".into(),
                        asset: "target/lambda/layers/ffmpeg.zip".into(),
                    },
                },
                NeededZip {
                    parameter: "TranscodeFunctionCodeKey".into(),
                    kind: Kind::Function {
                        binary: "demo-transcode".into(),
                    },
                },
            ]
        );
        assert_eq!(zips[0].artifact(), "ffmpeg-layer.zip");
        assert_eq!(zips[1].artifact(), "demo-transcode.zip");
        // every parameter the template declares for code is one deploy sets
        let declared: Vec<&String> = s.template.parameters.keys().collect();
        assert_eq!(
            declared,
            ["FfmpegLayerContentKey", "TranscodeFunctionCodeKey"]
        );

        // the same path as a deploy from --artifacts: verify, then key the parameters
        let d = temp("stack");
        fs::write(d.join("ffmpeg-layer.zip"), b"layer").unwrap();
        fs::write(d.join("demo-transcode.zip"), b"code").unwrap();
        fs::write(
            d.join(artifacts::SUMS),
            artifacts::sums_line(&sha(b"layer"), "ffmpeg-layer.zip")
                + &artifacts::sums_line(&sha(b"code"), "demo-transcode.zip"),
        )
        .unwrap();
        let assets = obtain(&Source::Artifacts(d.clone()), &zips).unwrap();
        let p = parameters(&zips, &assets).unwrap();
        assert_eq!(
            p["FfmpegLayerContentKey"],
            format!("assets/{}.zip", sha(b"layer"))
        );
        assert_eq!(
            p["TranscodeFunctionCodeKey"],
            format!("assets/{}.zip", sha(b"code"))
        );
        // the key satisfies the parameter's AllowedPattern
        assert!(regex_like_content_key(&p["FfmpegLayerContentKey"]));

        // a release without the layer zip is refused, naming the layer
        fs::remove_file(d.join("ffmpeg-layer.zip")).unwrap();
        let err = format!(
            "{:#}",
            obtain(&Source::Artifacts(d.clone()), &zips).unwrap_err()
        );
        assert!(
            err.contains("ffmpeg-layer.zip (layer FfmpegLayer, target/lambda/layers/ffmpeg.zip)"),
            "{err}"
        );
        fs::remove_dir_all(d).unwrap();
    }

    fn regex_like_content_key(key: &str) -> bool {
        key.strip_prefix("assets/")
            .and_then(|k| k.strip_suffix(".zip"))
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    #[test]
    fn the_layer_artifact_name_is_what_release_build_writes_for_the_ffmpeg_layer() {
        let expected = format!("{}.zip", crate::layers::FFMPEG_LAYER);
        assert_eq!(layer_artifact("target/lambda/layers/ffmpeg.zip"), expected);
        assert_eq!(
            layer_artifact(&format!("target/lambda/layers/ffmpeg-{}.zip", sha(b"x"))),
            expected
        );
    }

    /// The three parties agree: the service's `Metadata.Asset`, where `layers/` writes the zip,
    /// and the name release build ships it under.
    #[test]
    fn every_layer_the_stacks_use_is_one_the_build_and_the_release_make() {
        let stage = infra::stage::parse(
            "local",
            "local.yaml",
            &fs::read_to_string(project_root().join("environments/local.yaml")).unwrap(),
        )
        .unwrap();
        let mut layers = 0;
        for s in infra::synth_stage(&stage, None).unwrap() {
            for z in needed(&s) {
                if let Kind::Layer { asset, .. } = &z.kind {
                    layers += 1;
                    assert_eq!(
                        z.artifact(),
                        format!("{}.zip", crate::layers::FFMPEG_LAYER),
                        "{}: {asset}",
                        s.name
                    );
                    assert_eq!(
                        project_root().join(asset).parent(),
                        Some(crate::layers::layers_dir().as_path()),
                        "{}: {asset}",
                        s.name
                    );
                }
            }
        }
        assert!(
            layers > 0,
            "upload-processor's ffmpeg layer is among the stacks"
        );
    }

    #[test]
    fn a_layer_asset_resolves_to_the_file_or_its_content_addressed_zip() {
        let root = temp("resolve");
        let dir = root.join("target/lambda/layers");
        fs::create_dir_all(&dir).unwrap();
        let asset = "target/lambda/layers/ffmpeg.zip";

        let err = format!("{:#}", layer_zip_path(&root, asset).unwrap_err());
        assert!(
            err.contains("its zip target/lambda/layers/ffmpeg.zip is missing"),
            "{err}"
        );
        assert!(err.contains("cargo xtask build"), "{err}");

        // what xtask/src/layers/ writes; its stamp and unrelated zips are not candidates
        let addressed = dir.join(format!("ffmpeg-{}.zip", sha(b"layer")));
        fs::write(&addressed, b"layer").unwrap();
        fs::write(dir.join("ffmpeg.json"), b"{}").unwrap();
        fs::write(dir.join(format!("other-{}.zip", sha(b"o"))), b"o").unwrap();
        fs::write(dir.join("ffmpeg-old.zip"), b"o").unwrap();
        assert_eq!(layer_zip_path(&root, asset).unwrap(), addressed);
        let a = hash_layer(&addressed).unwrap();
        assert_eq!(a.sha256, sha(b"layer"));

        // two builds' zips: ambiguous, refused
        let second = dir.join(format!("ffmpeg-{}.zip", sha(b"newer")));
        fs::write(&second, b"newer").unwrap();
        let err = format!("{:#}", layer_zip_path(&root, asset).unwrap_err());
        assert!(err.contains("ambiguous"), "{err}");

        // the exact path wins over content-addressed siblings
        fs::write(dir.join("ffmpeg.zip"), b"exact").unwrap();
        assert_eq!(
            layer_zip_path(&root, asset).unwrap(),
            dir.join("ffmpeg.zip")
        );

        // a content-addressed zip whose bytes changed is refused
        fs::write(&second, b"edited").unwrap();
        let err = format!("{:#}", hash_layer(&second).unwrap_err());
        assert!(err.contains("not the sha256 in its name"), "{err}");
        fs::remove_dir_all(root).unwrap();
    }
}
