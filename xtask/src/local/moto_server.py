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
- Lambda layers from CloudFormation work: `Ref` is the version's ARN, a function keeps its
  `Layers`, an update publishes a new version, and GetLayerVersion's Content.Location names the zip in S3 (moto answers `s3://`),
  which the local Lambda service unpacks under the function's /opt.
- Transcribe jobs complete: StartTranscriptionJob answers IN_PROGRESS, then a local transcript
  (and the VTT subtitles asked for) is written to the output bucket, so its S3 notification
  fires, and the job is COMPLETED. The media is read from the emulator's S3: an MP3 or WAV
  without audio frames gives an empty transcript, others a fixed text timed over their length.
- SQS does not invoke event source mappings inside SendMessage: the local Lambda service polls.
- SNS messages stay readable: GET /_local/sns/messages?TopicArn=ARN, GET /_local/sns/topics.
- CloudFormation drift detection (DetectStackDrift, DescribeStackDriftDetectionStatus,
  DescribeStackResourceDrifts) compares functions, queues and rules with moto's backends: see
  moto_drift.py beside this file.
- GET /_local/health tells an xtask which launcher runs (the sha256 of this file and
  moto_drift.py).

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

import moto_drift  # beside this file, which Python puts first on sys.path

# xtask/src/local/moto.rs hashes the same files in the same order
LAUNCHER_VERSION = hashlib.sha256(
    open(__file__, "rb").read() + open(moto_drift.__file__, "rb").read()
).hexdigest()


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


def patch_lambda_layers():
    from moto.awslambda.models import LambdaFunction, LayerVersion

    create_function = LambdaFunction.create_from_cloudformation_json

    def create_function_from_cfn(cls, resource_name, cloudformation_json, *args, **kwargs):
        # moto's AWS::Lambda::Function drops `Layers` on create (an update keeps them)
        fn = create_function.__func__(cls, resource_name, cloudformation_json, *args, **kwargs)
        layers = (cloudformation_json.get("Properties") or {}).get("Layers")
        if layers:
            fn.layers = fn._get_layers_data(layers)
        return fn

    LambdaFunction.create_from_cloudformation_json = classmethod(create_function_from_cfn)

    # without it, CloudFormation's `Ref` of a layer version is the model object, and a function
    # created with it fails on an "unknown" layer
    LayerVersion.physical_resource_id = property(lambda self: self.arn)

    # a layer version is immutable: CloudFormation replaces it, which moto skips (the stack
    # would keep the old zip); publish a new version as AWS does
    def update_from_cfn(cls, original_resource, new_resource_name, cloudformation_json,
                        account_id, region_name):
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    LayerVersion.update_from_cloudformation_json = classmethod(update_from_cfn)

    get_layer_version = LayerVersion.get_layer_version

    def with_location(self):
        # AWS answers a presigned URL of the zip; moto `s3://`, which names nothing
        version = get_layer_version(self)
        bucket, key = self.content.get("S3Bucket"), self.content.get("S3Key")
        if bucket and key:
            version["Content"]["Location"] = (
                f"https://{bucket}.s3.{self.region}.amazonaws.com/{urllib.parse.quote(key)}"
            )
        return version

    LayerVersion.get_layer_version = with_location


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


# --- Transcribe -------------------------------------------------------------------------------

# seconds a job stays IN_PROGRESS before its output is written, so a caller sees both statuses
TRANSCRIBE_SECONDS = 0.5
# how long each word of the local transcript lasts when the media's length is unknown
WORD_SECONDS = 0.5

MP3_BITRATES = {
    # MPEG-1 Layer III, then MPEG-2 and 2.5 Layer III, in kbit/s by the header's index
    1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
    2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
}


def s3_object_of_uri(uri):
    """(bucket, key) of a MediaFileUri: s3://b/k, https://s3.<region>.amazonaws.com/b/k (path
    style, what the upload processor sends) or https://b.s3.<region>.amazonaws.com/k."""
    parsed = urllib.parse.urlparse(uri or "")
    path = urllib.parse.unquote(parsed.path.lstrip("/"))
    host = parsed.netloc
    if parsed.scheme == "s3":
        return host, path
    if host.startswith("s3.") or host.startswith("s3-"):
        bucket, _, key = path.partition("/")
        return bucket, key
    if ".s3." in host or ".s3-" in host:
        return host.split(".s3")[0], path
    return None, None


def mp3_audio(data):
    """(frames, seconds) of an MP3's Layer III frames, after an ID3v2 tag; None when the data
    holds no such frame at all (not an MP3, or an empty one)."""
    i = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        i = 10 + ((data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14
                  | (data[8] & 0x7F) << 7 | (data[9] & 0x7F))
    frames, seconds = 0, 0.0
    while i + 4 <= len(data):
        b1, b2 = data[i + 1], data[i + 2]
        version = (b1 >> 3) & 3  # 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5
        bitrate, rate = b2 >> 4, (b2 >> 2) & 3
        if (data[i] != 0xFF or b1 & 0xE0 != 0xE0 or version == 1 or (b1 >> 1) & 3 != 1
                or bitrate in (0, 15) or rate == 3):
            if frames:
                break  # trailing tags
            i += 1  # junk before the first frame
            continue
        mpeg1 = version == 3
        sample_rate = [44100, 48000, 32000][rate] >> {3: 0, 2: 1, 0: 2}[version]
        kbps = MP3_BITRATES[1 if mpeg1 else 2][bitrate]
        length = (144 if mpeg1 else 72) * kbps * 1000 // sample_rate + ((b2 >> 1) & 1)
        frames += 1
        seconds += (1152 if mpeg1 else 576) / sample_rate
        i += length
    return (frames, seconds) if frames else None


def wav_audio(data):
    """(has audio, seconds) from a WAV's fmt and data chunks; None when it is not a WAV."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    i, byte_rate = 12, 0
    while i + 8 <= len(data):
        chunk, size = data[i:i + 4], int.from_bytes(data[i + 4:i + 8], "little")
        if chunk == b"fmt " and size >= 12:
            byte_rate = int.from_bytes(data[i + 16:i + 20], "little")
        if chunk == b"data":
            size = min(size, len(data) - i - 8)
            return size > 0, (size / byte_rate if byte_rate else None)
        i += 8 + size + (size & 1)
    return False, 0.0


def media_audio(data):
    """(has audio, seconds or None). Cheap and partial: MP3 (what the upload processor sends)
    and WAV are read; anything else is taken as audio of unknown length. Silence is audio."""
    if not data:
        return False, 0.0
    wav = wav_audio(data)
    if wav is not None:
        return wav
    mp3 = mp3_audio(data)
    if mp3 is not None:
        return True, mp3[1]
    if data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return False, 0.0  # an MP3 (its tag or a header) without one whole frame
    return True, None


def local_transcript(job, media_key, has_audio, seconds):
    """Transcribe's output JSON with a fixed text that says it is local, its words timed
    evenly over the media; no items and an empty text for media without audio."""
    words = ["Local", "transcription", "of", media_key] if has_audio else []
    span = seconds if seconds else WORD_SECONDS * len(words)
    step = span / len(words) if words else 0
    items = [
        {
            "start_time": f"{n * step:.3f}",
            "end_time": f"{(n + 1) * step:.3f}",
            "alternatives": [{"confidence": "1.0", "content": word}],
            "type": "pronunciation",
        }
        for n, word in enumerate(words)
    ]
    if words:
        items.append({"alternatives": [{"confidence": "0.0", "content": "."}],
                      "type": "punctuation"})
    return {
        "jobName": job.transcription_job_name,
        "accountId": job._account_id,
        "status": "COMPLETED",
        "results": {
            "transcripts": [{"transcript": " ".join(words) + "." if words else ""}],
            "items": items,
        },
    }


def vtt_time(seconds):
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02}:{ms // 60000 % 60:02}:{ms // 1000 % 60:02}.{ms % 1000:03}"


def local_vtt(transcript):
    """WebVTT of the transcript: one cue over its words, as Transcribe would cue a short clip."""
    text = transcript["results"]["transcripts"][0]["transcript"]
    timed = [i for i in transcript["results"]["items"] if i["type"] == "pronunciation"]
    if not text:
        return "WEBVTT\n\n"
    start, end = float(timed[0]["start_time"]), float(timed[-1]["end_time"])
    return f"WEBVTT\n\n1\n{vtt_time(start)} --> {vtt_time(end)}\n{text}\n\n"


def output_keys(job):
    """The transcript's key and the subtitles' key without extension, as Transcribe names
    them: OutputKey (a `…/` folder gets the job's name), `.json` added when missing."""
    key = job.output_key or job.transcription_job_name
    if key.endswith("/"):
        key += job.transcription_job_name
    base = key[: -len(".json")] if key.endswith(".json") else key
    return base + ".json", base


def complete_transcription(job):
    from moto.core.utils import utcnow
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    time.sleep(TRANSCRIBE_SECONDS)
    name = job.transcription_job_name
    s3 = s3_backends[job._account_id][get_partition(job._region_name)]
    uri = (job.media or {}).get("MediaFileUri")
    bucket, key = s3_object_of_uri(uri)
    try:
        data = s3.get_object(bucket, key).value
    except Exception as e:
        job.failure_reason = (
            f"The URI that you provided doesn't point to an S3 object ({uri}: {e!r})"
        )
        job.status = "FAILED"
        log(f"transcribe {name}: FAILED, no media at {uri}")
        return
    has_audio, seconds = media_audio(data)
    transcript = local_transcript(job, key, has_audio, seconds)
    out = job._output_bucket_name
    region = job._region_name
    objects = []
    if out:
        json_key, base = output_keys(job)
        objects.append((json_key, json.dumps(transcript).encode("utf-8"), "application/json"))
        formats = [f.lower() for f in (job.subtitles or {}).get("Formats") or []]
        if "vtt" in formats:
            objects.append((base + ".vtt", local_vtt(transcript).encode("utf-8"), "text/vtt"))
        try:
            s3.get_bucket(out)
        except Exception:
            job.failure_reason = f"The output bucket {out} does not exist."
            job.status = "FAILED"
            log(f"transcribe {name}: FAILED, no output bucket {out}")
            return
        prefix = f"https://s3.{region}.amazonaws.com/{out}/"
        job.transcript = {"TranscriptFileUri": prefix + json_key}
        job.output_location_type = "CUSTOMER_BUCKET"
    else:
        # Transcribe's own bucket, which nobody can read here
        prefix = f"https://s3.{region}.amazonaws.com/aws-transcribe-{region}-prod/{name}/"
        job.transcript = {"TranscriptFileUri": prefix + "asrOutput.json"}
    job.subtitles["SubtitleFileUris"] = [
        prefix + key for key, _, _ in objects if not key.endswith(".json")
    ]
    job.completion_time = utcnow()
    # done before the objects appear: a function woken by their notification finds it so
    job.status = "COMPLETED"
    for key, body, content_type in objects:
        # through the backend: S3's notification fires as for a client's PutObject
        written = s3.put_object(out, key, body)
        try:
            written.set_metadata({"Content-Type": content_type})
        except Exception:
            pass
    log(f"transcribe {name}: COMPLETED ({'audio' if has_audio else 'no audio'}, "
        f"{len(objects)} objects in {out or 'the service bucket'})")


def patch_transcribe():
    from moto.core.utils import utcnow
    from moto.transcribe.models import FakeTranscriptionJob, TranscribeBackend

    # moto advances a job one status per GetTranscriptionJob and writes nothing; here the job
    # moves on its own (complete_transcription), whoever asks and however often
    FakeTranscriptionJob.status = property(
        lambda self: self._status, lambda self, value: setattr(self, "_status", value)
    )
    start = TranscribeBackend.start_transcription_job

    def start_transcription_job(self, *args, **kwargs):
        start(self, *args, **kwargs)
        name = kwargs.get("transcription_job_name") or args[0]
        job = self.transcriptions[name]
        job.status = "IN_PROGRESS"
        job.start_time = utcnow()
        if not job.media_format:
            ext = (job.media or {}).get("MediaFileUri", "").rsplit(".", 1)[-1].lower()
            job.media_format = ext if ext in ("mp3", "mp4", "wav", "flac", "ogg", "webm") else "mp3"
        answer = job.response_object("CREATE")
        threading.Thread(target=complete_transcription, args=(job,), daemon=True).start()
        return answer

    TranscribeBackend.start_transcription_job = start_transcription_job


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
    patch_lambda_layers()
    patch_s3()
    patch_sqs()
    patch_sns()
    patch_transcribe()
    moto_drift.install()

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
