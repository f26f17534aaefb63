"""CloudTrail parser (tocsin.ingest.parsers.cloudtrail): log files, single records, ECS.

The records are written for these tests after AWS's "CloudTrail record contents" and
"CloudTrail log file examples" documentation (account ids and keys are the documented
placeholders, addresses from the documentation ranges).
"""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tocsin.core.event import Event
from tocsin.ingest.base import ParseContext, ParseIssue
from tocsin.ingest.files import OpenedInput
from tocsin.ingest.parsers.cloudtrail import (
    MAX_DEPTH,
    MAX_FIELDS,
    CloudTrailParser,
    categorize,
    flatten_record,
)
from tocsin.ingest.parsers.jsonfmt import JsonParser
from tocsin.ingest.parsers.suricata import SuricataParser
from tocsin.ingest.parsers.zeek import ZeekJsonParser

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
T0 = datetime(2024, 2, 5, 10, 15, tzinfo=UTC)
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/BuildRole"


def ctx(dataset: str | None = None) -> ParseContext:
    return ParseContext("trail.json", "identity", dataset=dataset, received=RECEIVED)


def parse(
    data: bytes, context: ParseContext | None = None, *, peekable: bool = True
) -> tuple[list[Event], list[ParseIssue]]:
    events: list[Event] = []
    issues: list[ParseIssue] = []
    stream = io.BufferedReader(io.BytesIO(data)) if peekable else io.BytesIO(data)
    for batch in CloudTrailParser().parse_stream(stream, context or ctx()):
        events.extend(batch.events)
        issues.extend(batch.issues)
    return events, issues


CREATE_USER = {
    "eventVersion": "1.08",
    "userIdentity": {
        "type": "IAMUser",
        "principalId": "AIDAJ45Q7YFFAREXAMPLE",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/Alice",
        "accountId": ACCOUNT,
        "accessKeyId": "EXAMPLE-KEY-ID",
        "userName": "Alice",
    },
    "eventTime": "2024-02-05T10:15:00Z",
    "eventSource": "iam.amazonaws.com",
    "eventName": "CreateUser",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "192.0.2.10",
    "userAgent": "aws-cli/2.13.5 Python/3.11.4 Linux/6.1 exe/x86_64.amzn.2 prompt/off",
    "requestParameters": {"userName": "Bob", "tags": [{"key": "team", "value": "blue"}]},
    "responseElements": {
        "user": {
            "path": "/",
            "userName": "Bob",
            "userId": "AIDAEXAMPLEBOB",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/Bob",
            "createDate": "Feb 5, 2024 10:15:00 AM",
        }
    },
    "requestID": "3ab0b7d4-9d47-11e4-b4a3-f1b2c6f0b4c9",
    "eventID": "b8a5d4a9-2b1c-4a0e-9a51-9c0d0e8b1f11",
    "readOnly": False,
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": ACCOUNT,
    "eventCategory": "Management",
    "tlsDetails": {
        "tlsVersion": "TLSv1.2",
        "cipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
        "clientProvidedHostHeader": "iam.amazonaws.com",
    },
}
CONSOLE_LOGIN_FAILURE = {
    "eventVersion": "1.08",
    "userIdentity": {
        "type": "IAMUser",
        "principalId": "AIDACKCEVSQ6C2EXAMPLE",
        "accountId": ACCOUNT,
        "accessKeyId": "",
        "userName": "Mallory",
    },
    "eventTime": "2024-02-05T10:15:00Z",
    "eventSource": "signin.amazonaws.com",
    "eventName": "ConsoleLogin",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "198.51.100.23",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "errorMessage": "Failed authentication",
    "requestParameters": None,
    "responseElements": {"ConsoleLogin": "Failure"},
    "additionalEventData": {
        "LoginTo": "https://console.aws.amazon.com/console/home",
        "MobileVersion": "No",
        "MFAUsed": "No",
    },
    "eventID": "e8f4c5d6-0b6e-4c9b-8f15-2c1d6f3a7b20",
    "readOnly": False,
    "eventType": "AwsConsoleSignIn",
    "managementEvent": True,
    "recipientAccountId": ACCOUNT,
    "eventCategory": "Management",
}
S3_DENIED = {
    "eventVersion": "1.09",
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEROLEID:i-0abcd1234",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/BuildRole/i-0abcd1234",
        "accountId": ACCOUNT,
        "accessKeyId": "EXAMPLE-SESSION-KEY",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLEROLEID",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/BuildRole",
                "accountId": ACCOUNT,
                "userName": "BuildRole",
            },
            "attributes": {"creationDate": "2024-02-05T09:00:00Z", "mfaAuthenticated": "false"},
            "ec2RoleDelivery": "2.0",
        },
    },
    "eventTime": "2024-02-05T10:15:00.000Z",
    "eventSource": "s3.amazonaws.com",
    "eventName": "GetObject",
    "awsRegion": "eu-west-1",
    "sourceIPAddress": "2001:db8::10",
    "userAgent": "[aws-sdk-go/1.44.0 (go1.21; linux; amd64)]",
    "errorCode": "AccessDenied",
    "errorMessage": "Access Denied",
    "requestParameters": {
        "bucketName": "secrets",
        "Host": "secrets.s3.eu-west-1.amazonaws.com",
        "key": "prod/db.env",
    },
    "responseElements": None,
    "additionalEventData": {"bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader"},
    "requestID": "7XW4Y2EXAMPLE",
    "eventID": "4b4b0a8f-7f0a-4e0b-9f5c-0d2e1c9a6b33",
    "readOnly": True,
    "resources": [
        {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::secrets/prod/db.env"},
        {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::secrets"},
    ],
    "eventType": "AwsApiCall",
    "managementEvent": False,
    "recipientAccountId": ACCOUNT,
    "eventCategory": "Data",
}
SERVICE_CALL = {
    "eventVersion": "1.08",
    "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
    "eventTime": "2024-02-05T10:15:00Z",
    "eventSource": "sts.amazonaws.com",
    "eventName": "AssumeRole",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "ec2.amazonaws.com",
    "userAgent": "ec2.amazonaws.com",
    "requestParameters": {
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/BuildRole",
        "roleSessionName": "i-0abcd1234",
    },
    "responseElements": {
        "credentials": {
            "accessKeyId": "EXAMPLE-SESSION-KEY",
            "sessionToken": "EXAMPLE-TOKEN",
            "expiration": "Feb 5, 2024, 4:15:00 PM",
        }
    },
    "eventID": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    "readOnly": True,
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": ACCOUNT,
    "sharedEventID": "9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4",
    "eventCategory": "Management",
}
ROOT_POLICY = {
    "eventVersion": "1.08",
    "userIdentity": {
        "type": "Root",
        "principalId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:root",
        "accountId": ACCOUNT,
    },
    "eventTime": "2024-02-05T10:15:00Z",
    "eventSource": "s3.amazonaws.com",
    "eventName": "PutBucketPolicy",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "AWS Internal",
    "userAgent": "AWS Internal",
    "requestParameters": {
        "bucketName": "public-site",
        "bucketPolicy": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}],
        },
    },
    "responseElements": None,
    "eventID": "aa11bb22-cc33-dd44-ee55-ff6677889900",
    "readOnly": False,
    "eventType": "AwsApiCall",
    "recipientAccountId": ACCOUNT,
}


CASES = [
    pytest.param(
        CREATE_USER,
        {
            "eventVersion": "1.08",
            "userIdentity.type": "IAMUser",
            "userIdentity.principalId": "AIDAJ45Q7YFFAREXAMPLE",
            "userIdentity.arn": f"arn:aws:iam::{ACCOUNT}:user/Alice",
            "userIdentity.accountId": ACCOUNT,
            "userIdentity.accessKeyId": "EXAMPLE-KEY-ID",
            "userIdentity.userName": "Alice",
            "eventTime": "2024-02-05T10:15:00Z",
            "eventSource": "iam.amazonaws.com",
            "eventName": "CreateUser",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "192.0.2.10",
            "userAgent": CREATE_USER["userAgent"],
            "requestParameters.userName": "Bob",
            "requestParameters.tags": '[{"key":"team","value":"blue"}]',
            "responseElements.user.path": "/",
            "responseElements.user.userName": "Bob",
            "responseElements.user.userId": "AIDAEXAMPLEBOB",
            "responseElements.user.arn": f"arn:aws:iam::{ACCOUNT}:user/Bob",
            "responseElements.user.createDate": "Feb 5, 2024 10:15:00 AM",
            "requestID": "3ab0b7d4-9d47-11e4-b4a3-f1b2c6f0b4c9",
            "eventID": "b8a5d4a9-2b1c-4a0e-9a51-9c0d0e8b1f11",
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
            "tlsDetails.tlsVersion": "TLSv1.2",
            "tlsDetails.cipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
            "tlsDetails.clientProvidedHostHeader": "iam.amazonaws.com",
            "event.action": "CreateUser",
            "event.provider": "iam.amazonaws.com",
            "event.outcome": "success",
            "event.category": ["iam"],
            "event.type": ["creation"],
            "cloud.provider": "aws",
            "cloud.region": "us-east-1",
            "cloud.account.id": ACCOUNT,
            "cloud.service.name": "iam",
            "source.ip": "192.0.2.10",
            "related.ip": ["192.0.2.10"],
            "user_agent.original": CREATE_USER["userAgent"],
            "user.name": "Alice",
            "related.user": ["Alice"],
            "user.id": "AIDAJ45Q7YFFAREXAMPLE",
        },
        "b8a5d4a9-2b1c-4a0e-9a51-9c0d0e8b1f11",
        id="iam-create-user",
    ),
    pytest.param(
        CONSOLE_LOGIN_FAILURE,
        {
            "eventVersion": "1.08",
            "userIdentity.type": "IAMUser",
            "userIdentity.principalId": "AIDACKCEVSQ6C2EXAMPLE",
            "userIdentity.accountId": ACCOUNT,
            "userIdentity.accessKeyId": "",
            "userIdentity.userName": "Mallory",
            "eventTime": "2024-02-05T10:15:00Z",
            "eventSource": "signin.amazonaws.com",
            "eventName": "ConsoleLogin",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.23",
            "userAgent": CONSOLE_LOGIN_FAILURE["userAgent"],
            "errorMessage": "Failed authentication",
            "requestParameters": None,
            "responseElements.ConsoleLogin": "Failure",
            "additionalEventData.LoginTo": "https://console.aws.amazon.com/console/home",
            "additionalEventData.MobileVersion": "No",
            "additionalEventData.MFAUsed": "No",
            "eventID": "e8f4c5d6-0b6e-4c9b-8f15-2c1d6f3a7b20",
            "readOnly": False,
            "eventType": "AwsConsoleSignIn",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
            "event.action": "ConsoleLogin",
            "event.provider": "signin.amazonaws.com",
            "event.outcome": "failure",
            "event.category": ["authentication"],
            "event.type": ["start"],
            "cloud.provider": "aws",
            "cloud.region": "us-east-1",
            "cloud.account.id": ACCOUNT,
            "cloud.service.name": "signin",
            "source.ip": "198.51.100.23",
            "related.ip": ["198.51.100.23"],
            "user_agent.original": CONSOLE_LOGIN_FAILURE["userAgent"],
            "user.name": "Mallory",
            "related.user": ["Mallory"],
            "user.id": "AIDACKCEVSQ6C2EXAMPLE",
        },
        "e8f4c5d6-0b6e-4c9b-8f15-2c1d6f3a7b20",
        id="console-login-failure",
    ),
    pytest.param(
        S3_DENIED,
        {
            "eventVersion": "1.09",
            "userIdentity.type": "AssumedRole",
            "userIdentity.principalId": "AROAEXAMPLEROLEID:i-0abcd1234",
            "userIdentity.arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/BuildRole/i-0abcd1234",
            "userIdentity.accountId": ACCOUNT,
            "userIdentity.accessKeyId": "EXAMPLE-SESSION-KEY",
            "userIdentity.sessionContext.sessionIssuer.type": "Role",
            "userIdentity.sessionContext.sessionIssuer.principalId": "AROAEXAMPLEROLEID",
            "userIdentity.sessionContext.sessionIssuer.arn": ROLE_ARN,
            "userIdentity.sessionContext.sessionIssuer.accountId": ACCOUNT,
            "userIdentity.sessionContext.sessionIssuer.userName": "BuildRole",
            "userIdentity.sessionContext.attributes.creationDate": "2024-02-05T09:00:00Z",
            "userIdentity.sessionContext.attributes.mfaAuthenticated": "false",
            "userIdentity.sessionContext.ec2RoleDelivery": "2.0",
            "eventTime": "2024-02-05T10:15:00.000Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject",
            "awsRegion": "eu-west-1",
            "sourceIPAddress": "2001:db8::10",
            "userAgent": "[aws-sdk-go/1.44.0 (go1.21; linux; amd64)]",
            "errorCode": "AccessDenied",
            "errorMessage": "Access Denied",
            "requestParameters.bucketName": "secrets",
            "requestParameters.Host": "secrets.s3.eu-west-1.amazonaws.com",
            "requestParameters.key": "prod/db.env",
            "responseElements": None,
            "additionalEventData.bytesTransferredIn": 0,
            "additionalEventData.AuthenticationMethod": "AuthHeader",
            "requestID": "7XW4Y2EXAMPLE",
            "eventID": "4b4b0a8f-7f0a-4e0b-9f5c-0d2e1c9a6b33",
            "readOnly": True,
            "resources": orjson.dumps(S3_DENIED["resources"]).decode(),
            "eventType": "AwsApiCall",
            "managementEvent": False,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Data",
            "event.action": "GetObject",
            "event.provider": "s3.amazonaws.com",
            "event.outcome": "failure",
            "event.category": ["configuration"],
            "event.type": ["access"],
            "cloud.provider": "aws",
            "cloud.region": "eu-west-1",
            "cloud.account.id": ACCOUNT,
            "cloud.service.name": "s3",
            "source.ip": "2001:db8::10",
            "related.ip": ["2001:db8::10"],
            "user_agent.original": "[aws-sdk-go/1.44.0 (go1.21; linux; amd64)]",
            "user.name": "i-0abcd1234",
            "related.user": ["i-0abcd1234"],
            "user.id": "AROAEXAMPLEROLEID:i-0abcd1234",
        },
        "4b4b0a8f-7f0a-4e0b-9f5c-0d2e1c9a6b33",
        id="assumed-role-access-denied",
    ),
    pytest.param(
        SERVICE_CALL,
        {
            "eventVersion": "1.08",
            "userIdentity.type": "AWSService",
            "userIdentity.invokedBy": "ec2.amazonaws.com",
            "eventTime": "2024-02-05T10:15:00Z",
            "eventSource": "sts.amazonaws.com",
            "eventName": "AssumeRole",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "ec2.amazonaws.com",
            "userAgent": "ec2.amazonaws.com",
            "requestParameters.roleArn": f"arn:aws:iam::{ACCOUNT}:role/BuildRole",
            "requestParameters.roleSessionName": "i-0abcd1234",
            "responseElements.credentials.accessKeyId": "EXAMPLE-SESSION-KEY",
            "responseElements.credentials.sessionToken": "EXAMPLE-TOKEN",
            "responseElements.credentials.expiration": "Feb 5, 2024, 4:15:00 PM",
            "eventID": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            "readOnly": True,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "sharedEventID": "9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4",
            "eventCategory": "Management",
            "event.action": "AssumeRole",
            "event.provider": "sts.amazonaws.com",
            "event.outcome": "success",
            "event.category": ["authentication"],
            "event.type": ["start"],
            "cloud.provider": "aws",
            "cloud.region": "us-east-1",
            "cloud.account.id": ACCOUNT,
            "cloud.service.name": "sts",
            "source.domain": "ec2.amazonaws.com",
            "user_agent.original": "ec2.amazonaws.com",
        },
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        id="service-assume-role",
    ),
    pytest.param(
        ROOT_POLICY,
        {
            "eventVersion": "1.08",
            "userIdentity.type": "Root",
            "userIdentity.principalId": ACCOUNT,
            "userIdentity.arn": f"arn:aws:iam::{ACCOUNT}:root",
            "userIdentity.accountId": ACCOUNT,
            "eventTime": "2024-02-05T10:15:00Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": "PutBucketPolicy",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "AWS Internal",
            "userAgent": "AWS Internal",
            "requestParameters.bucketName": "public-site",
            "requestParameters.bucketPolicy.Version": "2012-10-17",
            "requestParameters.bucketPolicy.Statement": (
                '[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]'
            ),
            "responseElements": None,
            "eventID": "aa11bb22-cc33-dd44-ee55-ff6677889900",
            "readOnly": False,
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT,
            "event.action": "PutBucketPolicy",
            "event.provider": "s3.amazonaws.com",
            "event.outcome": "success",
            "event.category": ["configuration"],
            "event.type": ["change"],
            "cloud.provider": "aws",
            "cloud.region": "us-east-1",
            "cloud.account.id": ACCOUNT,
            "cloud.service.name": "s3",
            "user_agent.original": "AWS Internal",
            "user.name": "root",
            "related.user": ["root"],
            "user.id": ACCOUNT,
        },
        "aa11bb22-cc33-dd44-ee55-ff6677889900",
        id="root-bucket-policy",
    ),
]


@pytest.mark.parametrize(("record", "expected", "event_id"), CASES)
def test_single_record(
    record: dict[str, object], expected: dict[str, object], event_id: str
) -> None:
    raw = orjson.dumps(record)
    context = ctx()
    (event,), issues = parse(raw + b"\n", context)
    assert issues == []
    assert event == {
        **expected,
        "event.id": context.event_id(event_id),
        "@timestamp": T0,
        "event.dataset": "cloudtrail",
        "event.kind": "event",
        "event.original": raw.decode(),
    }


@pytest.mark.parametrize(("record", "expected", "event_id"), CASES)
def test_the_same_record_in_a_log_file(
    record: dict[str, object], expected: dict[str, object], event_id: str
) -> None:
    data = orjson.dumps({"Records": [CREATE_USER, record]})
    (_, event), issues = parse(data)
    assert issues == []
    assert event["event.original"] == orjson.dumps(record).decode()
    assert event["event.id"] == ctx().event_id(event_id)
    assert {key: event[key] for key in expected} == expected


def test_log_file_positions_ids_and_end_offset() -> None:
    anonymous = {key: value for key, value in CREATE_USER.items() if key != "eventID"}
    data = orjson.dumps(
        {"Records": [CREATE_USER, anonymous, anonymous]}, option=orjson.OPT_INDENT_2
    )
    batches = list(CloudTrailParser().parse_stream(io.BufferedReader(io.BytesIO(data)), ctx()))
    events = [event for batch in batches for event in batch.events]
    assert [event["event.id"] for event in events] == [
        ctx().event_id(str(CREATE_USER["eventID"])),
        ctx().event_id(1),
        ctx().event_id(2),
    ]
    assert batches[-1].end_offset == len(data)


def test_log_file_not_peekable_and_items_that_are_not_records() -> None:
    data = orjson.dumps({"Records": [CREATE_USER, "oops", {"eventName": "x"}]})
    events, issues = parse(data, peekable=False)
    assert len(events) == 1
    assert [issue.offset for issue in issues] == [1, 2]
    assert "expected a JSON object" in issues[0].reason
    assert "not a CloudTrail record" in issues[1].reason


def test_truncated_log_file_is_one_issue() -> None:
    data = orjson.dumps({"Records": [CREATE_USER, S3_DENIED]})[:-300]
    events, issues = parse(data)
    assert events == []
    assert len(issues) == 1
    assert issues[0].reason.startswith("invalid or truncated CloudTrail log file")
    assert issues[0].raw == data
    assert issues[0].parser == "cloudtrail"


def test_gzip_log_file_through_the_file_source(tmp_path: Path) -> None:
    records = [{**S3_DENIED, "eventID": f"id-{n}"} for n in range(300)]
    data = orjson.dumps({"Records": records})
    assert len(data) > 65536  # the head that sniffing sees cuts the file short
    path = tmp_path / f"{ACCOUNT}_CloudTrail_eu-west-1_20240205T1015Z_abc.json.gz"
    path.write_bytes(gzip.compress(data))
    with OpenedInput(path) as opened:
        assert CloudTrailParser().sniff(opened.head) == 70
        assert JsonParser().sniff(opened.head) < 70
        events = [
            event
            for batch in CloudTrailParser().parse_stream(opened.stream, ctx())
            for event in batch.events
        ]
    assert len(events) == 300
    assert len({event["event.id"] for event in events}) == 300


def test_ndjson_and_eventbridge_records() -> None:
    bridge = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": ACCOUNT,
        "time": "2024-02-05T10:15:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": CREATE_USER,
    }
    data = orjson.dumps(CONSOLE_LOGIN_FAILURE) + b"\n" + orjson.dumps(bridge) + b"\n"
    events, issues = parse(data)
    assert issues == []
    assert [event["event.action"] for event in events] == ["ConsoleLogin", "CreateUser"]
    assert events[1]["userIdentity.userName"] == "Alice"
    assert events[1]["event.original"] == orjson.dumps(bridge).decode()
    assert "detail-type" not in events[1]


def test_dataset_override_and_missing_time() -> None:
    record = {**ROOT_POLICY, "eventTime": "soon"}
    (event,), _ = parse(orjson.dumps(record), ctx(dataset="aws.audit"))
    assert event["event.dataset"] == "aws.audit"
    assert event["@timestamp"] == RECEIVED


def test_free_form_fields_are_bounded() -> None:
    deep = {"a": {"b": {"c": {"d": {"e": 1}}, "c2": 2}}, "flat": "x"}
    wide = {f"key{n}": n for n in range(MAX_FIELDS + 1)}
    record = {**CREATE_USER, "requestParameters": deep, "responseElements": wide}
    flat = flatten_record(record)
    assert MAX_DEPTH == 3
    assert flat["requestParameters.a.b.c"] == '{"d":{"e":1}}'
    assert flat["requestParameters.a.b.c2"] == 2
    assert flat["requestParameters.flat"] == "x"
    assert flat["responseElements"] == orjson.dumps(wide).decode()
    assert not any(key.startswith("responseElements.") for key in flat)
    # fixed-shape fields are flattened whole
    deeper = {**CREATE_USER, "userIdentity": {"a": {"b": {"c": {"d": 1}}}}}
    assert flatten_record(deeper)["userIdentity.a.b.c.d"] == 1


@pytest.mark.parametrize(
    ("name", "source", "category", "kind"),
    [
        ("ConsoleLogin", "signin.amazonaws.com", ["authentication"], ["start"]),
        ("AssumeRoleWithSAML", "sts.amazonaws.com", ["authentication"], ["start"]),
        ("CreateAccessKey", "iam.amazonaws.com", ["iam"], ["creation"]),
        ("DeleteUser", "iam.amazonaws.com", ["iam"], ["deletion"]),
        ("AttachUserPolicy", "iam.amazonaws.com", ["iam"], ["change"]),
        ("PutRolePolicy", "iam.amazonaws.com", ["iam"], ["change"]),
        ("ListUsers", "iam.amazonaws.com", ["configuration"], ["access"]),
        ("RunInstances", "ec2.amazonaws.com", ["configuration"], ["creation"]),
        ("StopLogging", "cloudtrail.amazonaws.com", ["configuration"], ["change"]),
        ("DescribeInstances", "ec2.amazonaws.com", ["configuration"], ["access"]),
        ("Decrypt", "kms.amazonaws.com", ["configuration"], ["info"]),
    ],
)
def test_categorize(name: str, source: str, category: list[str], kind: list[str]) -> None:
    assert categorize(name, source) == (category, kind)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (orjson.dumps({"Records": [CREATE_USER]}), 70),
        (b'{\n  "Records": [\n    ' + orjson.dumps(CREATE_USER) + b",\n    {", 70),
        (orjson.dumps(CREATE_USER) + b"\n", 70),
        (orjson.dumps({"Records": [{"eventName": "x"}]}), 0),
        (b'{"Records": [{"eventVersion": "1.08", "eventSou', 0),
        (orjson.dumps({"awsAccountId": ACCOUNT, "digestStartTime": "2024-02-05T10:15:00Z"}), 0),
        (orjson.dumps({"timestamp": "2024-01-01T12:00:00+0000", "event_type": "flow"}), 0),
    ],
)
def test_sniff(head: bytes, expected: int) -> None:
    assert CloudTrailParser().sniff(head) == expected
    if expected:
        assert SuricataParser().sniff(head) == 0
        assert ZeekJsonParser().sniff(head) == 0
