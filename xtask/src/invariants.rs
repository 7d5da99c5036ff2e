//! The architecture invariants of docs/ARCHITECTURE.md that the crate graph enforces: a crate
//! cannot call what it does not depend on, so these tests keep the dependency edges that make the
//! rules true from creeping back in. They read `cargo metadata` (offline, from Cargo.lock).

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::process::Command;

    use serde_json::Value;

    /// The Lambda target: what ships, not what the host's tests use.
    const LAMBDA_TARGET: &str = "aarch64-unknown-linux-gnu";

    struct Graph {
        /// package id → name, for workspace members and dependencies alike
        names: BTreeMap<String, String>,
        /// package id → ids of its normal (not dev, not build) dependencies on the Lambda target
        normal: BTreeMap<String, Vec<String>>,
        members: BTreeMap<String, String>,
    }

    impl Graph {
        fn load() -> Graph {
            let out = Command::new(env!("CARGO"))
                .args(["metadata", "--format-version", "1", "--offline"])
                .args(["--filter-platform", LAMBDA_TARGET])
                .current_dir(crate::project_root())
                .output()
                .expect("cargo metadata runs");
            assert!(
                out.status.success(),
                "cargo metadata: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            let names: BTreeMap<String, String> = v["packages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["id"].as_str().unwrap().to_string(),
                        p["name"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            let members = v["workspace_members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| {
                    let id = id.as_str().unwrap().to_string();
                    (names[&id].clone(), id)
                })
                .collect();
            let normal = v["resolve"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| {
                    let deps = n["deps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|d| {
                            d["dep_kinds"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .any(|k| k["kind"].is_null())
                        })
                        .map(|d| d["pkg"].as_str().unwrap().to_string())
                        .collect();
                    (n["id"].as_str().unwrap().to_string(), deps)
                })
                .collect();
            Graph {
                names,
                normal,
                members,
            }
        }

        fn direct(&self, member: &str) -> BTreeSet<String> {
            self.normal[&self.members[member]]
                .iter()
                .map(|id| self.names[id].clone())
                .collect()
        }

        /// Every crate `member` links on the Lambda target, itself excluded.
        fn closure(&self, member: &str) -> BTreeSet<String> {
            let mut seen = BTreeSet::new();
            let mut todo = vec![self.members[member].clone()];
            while let Some(id) = todo.pop() {
                for dep in &self.normal[&id] {
                    if seen.insert(dep.clone()) {
                        todo.push(dep.clone());
                    }
                }
            }
            seen.iter().map(|id| self.names[id].clone()).collect()
        }

        fn functions(&self) -> Vec<&str> {
            self.members
                .keys()
                .map(String::as_str)
                .filter(|m| !["infra", "state-machines", "xtask", "function-support"].contains(m))
                .collect()
        }
    }

    #[test]
    fn state_machines_knows_nothing_of_cloudformation_or_aws() {
        let g = Graph::load();
        let deps = g.closure("state-machines");
        let bad: Vec<_> = deps
            .iter()
            .filter(|d| g.members.contains_key(*d) || d.starts_with("aws-"))
            .collect();
        assert!(bad.is_empty(), "state-machines depends on {bad:?}");
    }

    #[test]
    fn synth_never_calls_aws_or_compiles_lambda_code() {
        let g = Graph::load();
        let deps = g.closure("infra");
        let bad: Vec<_> = deps
            .iter()
            .filter(|d| {
                d.starts_with("aws-sdk-")
                    || d.as_str() == "aws-config"
                    || (g.members.contains_key(*d) && d.as_str() != "state-machines")
            })
            .collect();
        assert!(bad.is_empty(), "infra depends on {bad:?}");
    }

    #[test]
    fn a_function_links_only_its_own_code_and_support() {
        let g = Graph::load();
        let functions = g.functions();
        assert!(functions.len() >= 5, "function crates: {functions:?}");
        for f in functions {
            let members: Vec<_> = g
                .closure(f)
                .into_iter()
                .filter(|d| g.members.contains_key(d) && d != "function-support")
                .collect();
            assert!(
                members.is_empty(),
                "{f} links the workspace crates {members:?}"
            );
            // CloudFormation is the operator's, never a function's
            assert!(
                !g.direct(f).contains("aws-sdk-cloudformation"),
                "{f} depends on aws-sdk-cloudformation"
            );
        }
    }

    /// `cargo metadata`'s resolve unifies features across the whole workspace (the host's tests
    /// included), so this one asks `cargo tree` for the graph of the arm64 build itself: every
    /// function crate at once, as `cargo xtask build` compiles them.
    #[test]
    fn every_function_shares_one_tls_stack() {
        let g = Graph::load();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--target",
            LAMBDA_TARGET,
        ])
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(crate::project_root());
        for f in g.functions() {
            cmd.args(["-p", f]);
        }
        let out = cmd.output().expect("cargo tree runs");
        assert!(
            out.status.success(),
            "cargo tree: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let linked: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect();
        assert!(
            linked.contains("rustls") && linked.contains("ring"),
            "{linked:?}"
        );
        let other: Vec<_> = [
            "aws-lc-rs",
            "aws-lc-sys",
            "openssl",
            "openssl-sys",
            "native-tls",
        ]
        .iter()
        .filter(|c| linked.contains(**c))
        .collect();
        assert!(
            other.is_empty(),
            "the Lambda build links {other:?} beside rustls on ring: a second TLS or crypto \
             stack in every zip"
        );
    }
}
