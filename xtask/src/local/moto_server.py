"""The local stage's AWS emulator: moto's server mode, configured and patched in-process.

`cargo xtask local up` runs this file with the project venv's python instead of `moto_server`
so that what the local stage needs from moto works without Docker:

- Step Functions executions run in moto's ASL interpreter (LocalStack's), whatever created the
  state machine (the API or CloudFormation, with its DefinitionSubstitutions applied); the
  interpreter's Lambda calls go to the local Lambda service, its other service calls (SNS, SQS,
  S3, ...) to this emulator.
- Lambda invocations moto makes itself (S3 notifications, SNS subscriptions, ...) are forwarded to
  the local Lambda service instead of Docker.
- S3 buckets created or updated by CloudFormation get their NotificationConfiguration (moto's
  CloudFormation handler ignores it), so S3 events reach Lambda, SQS and SNS as configured.
- SQS does not invoke event source mappings inside SendMessage: the local Lambda service polls.
- SNS messages stay readable: GET /_local/sns/messages?TopicArn=ARN, GET /_local/sns/topics.
- GET /_local/health tells an xtask which launcher runs (the sha256 of this file).

Environment: LOCAL_LAMBDA_ENDPOINT (e.g. http://127.0.0.1:5100), where Lambda calls go.
"""

import argparse
import datetime
import hashlib
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

LAUNCHER_VERSION = hashlib.sha256(open(__file__, "rb").read()).hexdigest()


def log(message):
    print(f"[local] {message}", file=sys.stderr, flush=True)


def lambda_endpoint():
    return os.environ.get("LOCAL_LAMBDA_ENDPOINT", "").rstrip("/")


def emulator_url():
    return f"http://127.0.0.1:{os.environ['MOTO_PORT']}"


# --- Step Functions ---------------------------------------------------------------------------


def patch_stepfunctions():
    from moto.core.config import default_user_config
    import moto.stepfunctions.models as sfn_models
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    # CloudFormation creates state machines in the plain backend, the API reads the
    # interpreter's: one backend for both, or deployed state machines are invisible. (The
    # package's attribute stays: the server derives the URL module from its backend class.)
    sfn_models.stepfunctions_backends = stepfunctions_parser_backends

    def with_substitutions(cloudformation_json):
        # moto ignores DefinitionSubstitutions (and the Definition object), so the
        # interpreter would see `${Placeholder}` resources
        props = cloudformation_json.get("Properties", {})
        definition = props.get("DefinitionString")
        if definition is None and isinstance(props.get("Definition"), dict):
            definition = json.dumps(props["Definition"])
        if definition is None:
            return cloudformation_json
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        props["DefinitionString"] = definition
        return cloudformation_json

    sm = sfn_models.StateMachine
    create, update = sm.create_from_cloudformation_json, sm.update_from_cloudformation_json

    def create_from_cfn(cls, resource_name, cloudformation_json, *args, **kwargs):
        return create.__func__(
            cls, resource_name, with_substitutions(cloudformation_json), *args, **kwargs
        )

    def update_from_cfn(cls, original, new_name, cloudformation_json, *args, **kwargs):
        return update.__func__(
            cls, original, new_name, with_substitutions(cloudformation_json), *args, **kwargs
        )

    sm.create_from_cloudformation_json = classmethod(create_from_cfn)
    sm.update_from_cloudformation_json = classmethod(update_from_cfn)

    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self):
        # moto drops the cause, which a Catch's ResultPath shows to the next state
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"),
            error=self._get_param("error"),
            cause=self._get_param("cause"),
        )
        from moto.core.responses import EmptyResult

        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start_execution = StepFunctionsParserBackend.start_execution

    def start_unnamed(self, state_machine_arn, name=None, *args, **kwargs):
        # AWS names an execution started without a name with a UUID; the interpreter names it
        # `None`, and a second one is then the first again (idempotency by name)
        import uuid

        return start_execution(
            self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs
        )

    StepFunctionsParserBackend.start_execution = start_unnamed
    patch_service_clients()


def patch_service_clients():
    import boto3
    from botocore.config import Config

    import moto.stepfunctions.parser.asl.utils.boto_client as boto_client

    original = boto_client.boto_client_for

    def boto_client_for(region, service, state_credentials=None):
        if service != "lambda":
            return original(region, service, state_credentials)
        endpoint = lambda_endpoint()
        if not endpoint:
            raise RuntimeError(
                "LOCAL_LAMBDA_ENDPOINT is not set: the emulator has no Lambda service to call"
            )
        return boto3.client(
            "lambda",
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            # a function may run up to 15 minutes; Lambda's own retries are the state's Retry
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=10,
                read_timeout=960,
            ),
        )

    boto_client.boto_client_for = boto_client_for
    # the interpreter's modules imported the function by name: rebind it in each
    for name, module in list(sys.modules.items()):
        if (
            name.startswith("moto.stepfunctions.parser")
            and getattr(module, "boto_client_for", None) is original
        ):
            module.boto_client_for = boto_client_for


def patch_jsonpath():
    """An indefinite path (a filter, a wildcard, recursive descent, a slice) that matches nothing
    is an empty list in Step Functions, as in Jayway JsonPath which AWS uses and Step Functions
    Local answers; the interpreter raises States.Runtime for filters and recursive descent. The
    canvas-data summary filters results by state, and most runs have none in some state."""
    import moto.stepfunctions.parser.asl.utils.json_path as json_path

    original = json_path.extract_json

    def indefinite(path):
        return "[?" in path or ".." in path or "[*]" in path or ":" in path

    def extract_json(path, data):
        try:
            return original(path, data)
        except json_path.NoSuchJsonPathError:
            if indefinite(path):
                return []
            raise

    json_path.extract_json = extract_json
    for name, module in list(sys.modules.items()):
        if (
            name.startswith("moto.stepfunctions.parser")
            and getattr(module, "extract_json", None) is original
        ):
            module.extract_json = extract_json


def import_interpreter_modules():
    """Import every module of the interpreter now, so that the rebinding reaches them all."""
    import pkgutil

    import moto.stepfunctions.parser as parser

    for info in pkgutil.walk_packages(parser.__path__, parser.__name__ + "."):
        try:
            __import__(info.name)
        except ImportError:
            pass  # LocalStack's own provider modules, which moto does not use


# --- Lambda -----------------------------------------------------------------------------------


def forward_invoke(function_name, body, request_headers, response_headers):
    """One invocation by the local Lambda service, answered as moto's invoke answers."""
    # moto's own callers (S3 and SNS notifications, ...) pass no headers: they are AWS's
    # asynchronous invocations; a client's Invoke arrives with its headers
    headers = request_headers or {}
    invocation_type = headers.get("X-Amz-Invocation-Type") or (
        "RequestResponse" if headers else "Event"
    )
    endpoint = lambda_endpoint()
    if not endpoint:
        raise RuntimeError("LOCAL_LAMBDA_ENDPOINT is not set")
    if isinstance(body, str):
        body = body.encode("utf-8")
    out_headers = {"X-Amz-Invocation-Type": invocation_type}
    if headers.get("X-Amz-Log-Type"):
        out_headers["X-Amz-Log-Type"] = headers.get("X-Amz-Log-Type")
    name = urllib.parse.quote(function_name, safe="")
    request = urllib.request.Request(
        f"{endpoint}/2015-03-31/functions/{name}/invocations",
        data=body or b"{}",
        headers=out_headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=960) as response:
            payload = response.read()
            answer = response.headers
    except urllib.error.HTTPError as e:
        payload, answer = e.read(), e.headers
        log(f"lambda {function_name} ({invocation_type}): HTTP {e.code}")
        if invocation_type == "Event":
            return b""
        response_headers["x-amz-function-error"] = "Unhandled"
        return payload
    for key in ("X-Amz-Function-Error", "X-Amz-Log-Result", "X-Amz-Executed-Version"):
        if answer.get(key):
            response_headers[key.lower()] = answer.get(key)
    log(f"lambda {function_name} invoked ({invocation_type})")
    return payload


def patch_lambda():
    from moto.awslambda.models import LambdaFunction

    def invoke(self, body, request_headers, response_headers):
        try:
            return forward_invoke(self.function_name, body, request_headers, response_headers)
        except Exception as e:
            if not request_headers:
                # asynchronous for AWS too: the event is lost, the caller carries on
                log(f"lambda {self.function_name} (Event) not delivered: {e}")
                return b""
            raise

    LambdaFunction.invoke = invoke


# --- S3 ---------------------------------------------------------------------------------------


def notification_config_from_cfn(cfn):
    """A bucket's CloudFormation `NotificationConfiguration` in the shape moto's
    put_bucket_notification_configuration takes (that of the API's XML body)."""
    if not cfn:
        return {}

    def converted(items, target_key, api_key):
        out = []
        for item in items or []:
            event = item.get("Event")
            n = {api_key: item[target_key], "Event": event if isinstance(event, list) else [event]}
            rules = ((item.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            if rules:
                # moto compares the rule names in lower case, as S3 stores them
                n["Filter"] = {"S3Key": {"FilterRule": [
                    {"Name": str(r["Name"]).lower(), "Value": r["Value"]} for r in rules
                ]}}
            out.append(n)
        return out

    config = {}
    for cfn_key, target_key, api_key, api_list in (
        ("LambdaConfigurations", "Function", "CloudFunction", "CloudFunctionConfiguration"),
        ("QueueConfigurations", "Queue", "Queue", "QueueConfiguration"),
        ("TopicConfigurations", "Topic", "Topic", "TopicConfiguration"),
    ):
        items = converted(cfn.get(cfn_key), target_key, api_key)
        if items:
            config[api_list] = items
    if (cfn.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled") in (True, "true"):
        config["EventBridgeConfiguration"] = {}
    return config


def patch_s3():
    import moto.s3.notifications as notifications
    from moto.s3.models import FakeBucket, s3_backends
    from moto.utilities.utils import get_partition

    # S3 form-encodes the key in events but keeps its slashes (`a/b c` -> `a/b+c`); moto
    # encodes them too, which a handler's unquote_plus would still undo, a plain split not
    notifications.quote_plus = lambda key: urllib.parse.quote_plus(key, safe="/")

    # moto's AWS::S3::Bucket ignores NotificationConfiguration: apply it through the backend,
    # as PutBucketNotificationConfiguration would (a bucket updated without it loses it)
    def apply_notifications(bucket, cloudformation_json, account_id, region_name):
        props = cloudformation_json.get("Properties") or {}
        config = notification_config_from_cfn(props.get("NotificationConfiguration"))
        backend = s3_backends[account_id][get_partition(region_name)]
        if config:
            backend.put_bucket_notification_configuration(bucket.name, config)
        elif bucket.notification_configuration is not None:
            bucket.set_notification_configuration(None)
        return bucket

    create, update = (
        FakeBucket.create_from_cloudformation_json,
        FakeBucket.update_from_cloudformation_json,
    )

    def create_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name,
                        **kwargs):
        bucket = create.__func__(cls, resource_name, cloudformation_json, account_id,
                                 region_name, **kwargs)
        return apply_notifications(bucket, cloudformation_json, account_id, region_name)

    def update_from_cfn(cls, original, new_name, cloudformation_json, account_id, region_name):
        bucket = update.__func__(cls, original, new_name, cloudformation_json, account_id,
                                 region_name)
        return apply_notifications(bucket, cloudformation_json, account_id, region_name)

    FakeBucket.create_from_cloudformation_json = classmethod(create_from_cfn)
    FakeBucket.update_from_cloudformation_json = classmethod(update_from_cfn)


# --- SQS --------------------------------------------------------------------------------------


def patch_sqs():
    from moto.sqs.models import Queue

    # SendMessage would run the mapped function synchronously and consume the messages; the
    # local Lambda service's poller owns event source mappings. The mapping itself lives in the
    # Lambda backend, so Create/List/DeleteEventSourceMapping still work.
    Queue.lambda_event_source_mappings = property(lambda self: {}, lambda self, value: None)


# --- SNS --------------------------------------------------------------------------------------

_published_at = {}
_published_lock = threading.Lock()


def patch_sns():
    from moto.sns.models import Topic

    publish = Topic.publish

    def publish_with_time(self, *args, **kwargs):
        message_id = publish(self, *args, **kwargs)
        now = datetime.datetime.now(datetime.timezone.utc)
        with _published_lock:
            _published_at[message_id] = now.isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            )
        return message_id

    Topic.publish = publish_with_time

    from moto.sns.models import Subscription

    subscription_publish = Subscription.publish

    def publish_to_lambda(self, message, message_id, subject=None, message_attributes=None,
                          group_id=None, deduplication_id=None, message_structure=None):
        # moto's event for a Lambda subscription is a fixed example (topic
        # arn:aws:sns:EXAMPLE, a constant message id, 1970): build SNS's real one
        if self.protocol != "lambda":
            return subscription_publish(self, message, message_id, subject, message_attributes,
                                        group_id, deduplication_id, message_structure)
        matcher = self._filter_policy_matcher
        if matcher is not None and not matcher.matches(message_attributes, message):
            return
        if message_structure == "json":
            message = self._parse_message_structure(message, self.protocol)
        post = self.get_post_data(message, message_id, subject, message_attributes)
        record = {k: v for k, v in post.items() if k not in ("SigningCertURL", "UnsubscribeURL")}
        record["SigningCertUrl"] = post.get("SigningCertURL")
        record["UnsubscribeUrl"] = post.get("UnsubscribeURL")
        record.setdefault("Subject", subject)
        record.setdefault("MessageAttributes", {})
        event = {"Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": self.arn,
            "Sns": record,
        }]}
        try:
            forward_invoke(self.endpoint, json.dumps(event), {}, {})
        except Exception as e:
            log(f"lambda {self.endpoint} (Event) not delivered: {e}")

    Subscription.publish = publish_to_lambda


def all_topics():
    from moto.sns.models import sns_backends

    for account, regions in list(sns_backends.items()):
        for region, backend in list(regions.items()):
            for arn, topic in list(backend.topics.items()):
                yield arn, topic


def topic_messages(topic):
    out = []
    for message_id, message, subject, attributes, group_id in list(topic.sent_notifications):
        out.append(
            {
                "MessageId": message_id,
                "Subject": subject,
                "Message": message,
                "MessageAttributes": attributes or {},
                "MessageGroupId": group_id,
                "Timestamp": _published_at.get(message_id),
            }
        )
    return out


# --- the server -------------------------------------------------------------------------------


def local_routes(app):
    """`/_local/...` answered here, everything else by moto."""

    def respond(start_response, status, body):
        data = json.dumps(body).encode("utf-8")
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]

    def wsgi(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/_local/"):
            return app(environ, start_response)
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        if path == "/_local/health":
            import moto

            return respond(
                start_response,
                "200 OK",
                {
                    "launcher": LAUNCHER_VERSION,
                    "moto": moto.__version__,
                    "lambda_endpoint": lambda_endpoint() or None,
                },
            )
        if path == "/_local/sns/topics":
            return respond(start_response, "200 OK", {"Topics": [a for a, _ in all_topics()]})
        if path == "/_local/sns/messages":
            arn = (query.get("TopicArn") or [""])[0]
            for topic_arn, topic in all_topics():
                if topic_arn == arn:
                    return respond(
                        start_response,
                        "200 OK",
                        {"TopicArn": arn, "Messages": topic_messages(topic)},
                    )
            return respond(start_response, "404 Not Found", {"error": f"no topic {arn}"})
        return respond(start_response, "404 Not Found", {"error": f"no route {path}"})

    return wsgi


def watch_parent():
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    # tests start an emulator of their own, which must not outlive the test process
    parser.add_argument("--exit-with-parent", action="store_true")
    args = parser.parse_args()
    if args.exit_with_parent:
        watch_parent()
    # the interpreter's service clients call the emulator on MOTO_PORT
    os.environ["MOTO_PORT"] = str(args.port)

    from werkzeug.serving import run_simple

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    import_interpreter_modules()
    patch_stepfunctions()
    patch_jsonpath()
    patch_lambda()
    patch_s3()
    patch_sqs()
    patch_sns()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    log(
        f"launcher {LAUNCHER_VERSION[:12]} on {args.host}:{args.port}, "
        f"Lambda at {lambda_endpoint() or '(none)'}"
    )
    run_simple(
        args.host,
        args.port,
        local_routes(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
