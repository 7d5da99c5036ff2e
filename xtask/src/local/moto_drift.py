"""CloudFormation drift detection for the emulator, which moto does not implement:
DetectStackDrift, DescribeStackDriftDetectionStatus and DescribeStackResourceDrifts, answered in
AWS's shapes (moto serializes them from botocore's model of the API).

A stack's resources are compared with moto's own backends, in memory, so detection is done
within DetectStackDrift and its status is DETECTION_COMPLETE from the first poll. As in AWS,
only the properties the template sets are compared, with its references resolved:

- AWS::Lambda::Function: Description, Handler, MemorySize, Runtime, Timeout, the environment
  variables, and `Code`. AWS cannot check code (the property is write-only in Lambda's resource
  schema); here `/Code` compares the function's CodeSha256 with that of the zip the template's
  S3Bucket/S3Key name, so a `deploy --hotswap` shows as drift on the local stage as well.
- AWS::SQS::Queue: its attributes (DelaySeconds, VisibilityTimeout, RedrivePolicy, KMS, ...).
- AWS::Events::Rule: ScheduleExpression, State, Description.

Every other type is answered NOT_CHECKED (AWS leaves types it cannot check out of
DescribeStackResourceDrifts; `cargo xtask drift` treats both alike). A resource gone from its
backend is DELETED.
"""

import base64
import datetime
import hashlib
import json
import threading
import uuid

# the latest detection per stack id, and every detection's status by its id
_lock = threading.Lock()
_detections = {}
_results = {}

# AWS pages DescribeStackResourceDrifts by at most 100
MAX_RESULTS = 100


class Gone(Exception):
    """The stack's resource no longer exists in its backend."""


def install():
    from moto.cloudformation.responses import CloudFormationResponse

    # moto dispatches an action to the response's method of that name, if there is one
    CloudFormationResponse.detect_stack_drift = detect_stack_drift
    CloudFormationResponse.describe_stack_drift_detection_status = detection_status
    CloudFormationResponse.describe_stack_resource_drifts = resource_drifts


# --- the API ----------------------------------------------------------------------------------


def detect_stack_drift(self):
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.responses import ActionResult

    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    if stack.status.endswith("_IN_PROGRESS") or stack.status in (
        "ROLLBACK_COMPLETE", "DELETE_COMPLETE", "DELETE_FAILED"
    ):
        raise ValidationError(message=f"Drift detection is not supported for stack {stack.name} "
                                      f"in status {stack.status}")
    only = self._get_param("LogicalResourceIds") or None
    now = datetime.datetime.now(datetime.timezone.utc)
    drifts = detect(stack, only, now)
    detection_id = str(uuid.uuid4())
    failed = [d["LogicalResourceId"] for d in drifts if d["StackResourceDriftStatus"] == "UNKNOWN"]
    drifted = [d for d in drifts if d["StackResourceDriftStatus"] in ("MODIFIED", "DELETED")]
    status = {
        "StackId": stack.stack_id,
        "StackDriftDetectionId": detection_id,
        "StackDriftStatus": "DRIFTED" if drifted else "IN_SYNC",
        "DetectionStatus": "DETECTION_FAILED" if failed else "DETECTION_COMPLETE",
        "DriftedStackResourceCount": len(drifted),
        "Timestamp": now,
    }
    if failed:
        status["DetectionStatusReason"] = (
            f"Failed to detect drift on resources [{', '.join(failed)}]"
        )
    with _lock:
        _detections[detection_id] = status
        if only:
            # the other resources keep the result of their last check
            kept = [d for d in _results.get(stack.stack_id, [])
                    if d["LogicalResourceId"] not in only]
            drifts = sorted(kept + drifts, key=lambda d: d["LogicalResourceId"])
        _results[stack.stack_id] = drifts
    # DescribeStacks' DriftInformation, as AWS records the last check on the stack
    stack.drift_information = {
        "StackDriftStatus": status["StackDriftStatus"],
        "LastCheckTimestamp": now,
    }
    return ActionResult({"StackDriftDetectionId": detection_id})


def detection_status(self):
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.responses import ActionResult

    detection_id = self._get_param("StackDriftDetectionId")
    with _lock:
        status = _detections.get(detection_id)
    if status is None:
        raise ValidationError(message=f"Drift detection with id {detection_id} does not exist")
    return ActionResult(dict(status))


def resource_drifts(self):
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.responses import ActionResult

    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    with _lock:
        drifts = _results.get(stack.stack_id)
    if drifts is None:
        raise ValidationError(message=f"No drift detection has run on stack {stack.name}")
    wanted = self._get_param("StackResourceDriftStatusFilters") or None
    if wanted:
        drifts = [d for d in drifts if d["StackResourceDriftStatus"] in wanted]
    start = int(self._get_param("NextToken") or 0)
    size = min(int(self._get_param("MaxResults") or MAX_RESULTS), MAX_RESULTS)
    page = drifts[start:start + size]
    result = {"StackResourceDrifts": page}
    if start + size < len(drifts):
        result["NextToken"] = str(start + size)
    return ActionResult(result)


# --- detection --------------------------------------------------------------------------------


def detect(stack, only, now):
    resources = (stack.template_dict or {}).get("Resources") or {}
    out = []
    for logical_id in sorted(resources):
        if only and logical_id not in only:
            continue
        resource_json = resources[logical_id] or {}
        condition = resource_json.get("Condition")
        try:
            if condition and not stack.resource_map.lazy_condition_map[condition]:
                continue  # not created: nothing to compare
        except Exception:
            pass
        out.append(check(stack, logical_id, resource_json, now))
    return out


def check(stack, logical_id, resource_json, now):
    resource_type = resource_json.get("Type", "")
    model = stack.resource_map._parsed_resources.get(logical_id)
    physical = getattr(model, "physical_resource_id", None) if model is not None else None
    drift = {
        "StackId": stack.stack_id,
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "Timestamp": now,
    }
    if isinstance(physical, str) and physical:
        drift["PhysicalResourceId"] = physical
    checker = CHECKERS.get(resource_type)
    if checker is None or "PhysicalResourceId" not in drift:
        drift["StackResourceDriftStatus"] = "NOT_CHECKED"
        return drift
    props = resource_json.get("Properties") or {}
    try:
        expected, actual = checker(stack, props, physical)
    except Gone:
        drift["StackResourceDriftStatus"] = "DELETED"
        return drift
    except Exception as e:  # a bug here must not fail the whole detection
        drift["StackResourceDriftStatus"] = "UNKNOWN"
        drift["DriftStatusReason"] = f"the emulator could not read the resource: {e!r}"
        return drift
    differences = []
    for name in sorted(expected):
        compare("/" + name, expected[name], actual.get(name), differences)
    drift["ExpectedProperties"] = json.dumps(expected, sort_keys=True, default=str)
    drift["ActualProperties"] = json.dumps(actual, sort_keys=True, default=str)
    if differences:
        # AWS lists differences only for MODIFIED resources
        drift["PropertyDifferences"] = differences
    drift["StackResourceDriftStatus"] = "MODIFIED" if differences else "IN_SYNC"
    return drift


def resolve(stack, value):
    from moto.cloudformation.parsing import clean_json

    return clean_json(value, stack.resource_map)


def scalar(value):
    """A value as the API's ExpectedValue/ActualValue strings carry it, and as templates
    (numbers as strings, booleans in either form) compare with what services answer."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    text = str(value)
    return text.lower() if text in ("True", "False") else text


def compare(path, expected, actual, out):
    """PropertyDifferences between two values, with AWS's JSON-pointer paths (`/MemorySize`,
    `/Environment/Variables/NAME`, `/Tags/0`) and difference types."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            sub = f"{path}/{key}"
            if key not in actual:
                out.append(difference(sub, expected[key], None, "REMOVE"))
            elif key not in expected:
                out.append(difference(sub, None, actual[key], "ADD"))
            else:
                compare(sub, expected[key], actual[key], out)
        return
    if isinstance(expected, list) and isinstance(actual, list):
        for i in range(max(len(expected), len(actual))):
            sub = f"{path}/{i}"
            if i >= len(actual):
                out.append(difference(sub, expected[i], None, "REMOVE"))
            elif i >= len(expected):
                out.append(difference(sub, None, actual[i], "ADD"))
            else:
                compare(sub, expected[i], actual[i], out)
        return
    if actual is None and expected is not None:
        out.append(difference(path, expected, None, "REMOVE"))
    elif scalar(expected) != scalar(actual):
        out.append(difference(path, expected, actual, "NOT_EQUAL"))


def difference(path, expected, actual, kind):
    return {
        "PropertyPath": path,
        "ExpectedValue": scalar(expected),
        "ActualValue": scalar(actual),
        "DifferenceType": kind,
    }


# --- the resource types ----------------------------------------------------------------------


def template_code_sha256(stack, code):
    """Lambda's CodeSha256 of the zip a template's Code names, or the S3 location when the
    emulator's S3 no longer holds it (then compared with the function's own)."""
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    bucket, key = code.get("S3Bucket"), code.get("S3Key")
    if not bucket or not key:
        return None
    s3 = s3_backends[stack.account_id][get_partition(stack.region_name)]
    try:
        data = s3.get_object(bucket, key).value
    except Exception:
        return f"s3://{bucket}/{key}"
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def lambda_function(stack, props, physical):
    from moto.awslambda.models import lambda_backends

    backend = lambda_backends[stack.account_id][stack.region_name]
    try:
        fn = backend.get_function(physical)
    except Exception:
        raise Gone()
    expected, actual = {}, {}
    for name, attr in (
        ("Description", "description"),
        ("Handler", "handler"),
        ("MemorySize", "memory_size"),
        ("Runtime", "run_time"),
        ("Timeout", "timeout"),
    ):
        if name in props:
            expected[name] = resolve(stack, props[name])
            actual[name] = getattr(fn, attr, None)
    if "Environment" in props:
        expected["Environment"] = resolve(stack, props["Environment"]) or {}
        actual["Environment"] = {"Variables": dict(fn.environment_vars or {})}
        expected["Environment"].setdefault("Variables", {})
    if "Code" in props:
        code = resolve(stack, props["Code"]) or {}
        want = template_code_sha256(stack, code)
        if want is not None:
            expected["Code"] = want
            if want.startswith("s3://"):
                got = fn.code or {}
                actual["Code"] = f"s3://{got.get('S3Bucket')}/{got.get('S3Key')}"
            else:
                actual["Code"] = fn.code_sha_256
    return expected, actual


# CloudFormation properties of a queue that are not its attributes
QUEUE_NOT_ATTRIBUTES = ("QueueName", "Tags")
QUEUE_JSON_ATTRIBUTES = ("RedrivePolicy", "RedriveAllowPolicy")


def sqs_queue(stack, props, physical):
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[stack.account_id][stack.region_name]
    try:
        queue = backend.get_queue(physical.rstrip("/").rsplit("/", 1)[-1])
    except Exception:
        raise Gone()
    attributes = queue.attributes
    expected, actual = {}, {}
    for name, value in props.items():
        if name in QUEUE_NOT_ATTRIBUTES:
            continue
        expected[name] = resolve(stack, value)
        got = attributes.get(name)
        if name in QUEUE_JSON_ATTRIBUTES and isinstance(got, str):
            got = json.loads(got)
        if name in QUEUE_JSON_ATTRIBUTES and isinstance(expected[name], str):
            expected[name] = json.loads(expected[name])
        actual[name] = got
    return expected, actual


def events_rule(stack, props, physical):
    from moto.events.models import events_backends

    backend = events_backends[stack.account_id][stack.region_name]
    bus = resolve(stack, props.get("EventBusName")) if "EventBusName" in props else None
    try:
        rule = backend.describe_rule(physical.rsplit("/", 1)[-1], bus)
    except Exception:
        raise Gone()
    expected, actual = {}, {}
    for name, attr in (
        ("Description", "description"),
        ("ScheduleExpression", "scheduled_expression"),
        ("State", "state"),
    ):
        if name in props:
            expected[name] = resolve(stack, props[name])
            actual[name] = getattr(rule, attr, None)
    return expected, actual


CHECKERS = {
    "AWS::Lambda::Function": lambda_function,
    "AWS::SQS::Queue": sqs_queue,
    "AWS::Events::Rule": events_rule,
}
