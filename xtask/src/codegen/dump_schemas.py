"""Dump the CloudFormation resource provider schemas that cfn-lint ships, for the given types.

Run by `cargo xtask codegen` with the project's pinned cfn-lint; writes one JSON file per type.
Only the keys the Rust generator reads are kept, so the files diff cleanly when cfn-lint moves.
"""
import json
import sys
from pathlib import Path

from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

KEEP = ("typeName", "properties", "definitions", "required", "readOnlyProperties")


def main(out_dir, types):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for type_name in types:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", type_name).schema
        kept = {k: schema[k] for k in KEEP if k in schema}
        path = out / (type_name.replace("::", "_") + ".json")
        path.write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
