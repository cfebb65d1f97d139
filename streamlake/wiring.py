"""Offline check of every service-to-service permission of the synthesised templates ("the wiring").

moto never evaluates identity, resource or key policies, so a deployment can be wrong in ways no local test sees
(an SNS topic policy that leaves CloudWatch out, a role missing a KMS grant). This module evaluates them.

No offline library does this for CloudFormation templates: policy_sentry and parliament write or lint policies,
iam-ape evaluates an account's downloaded authorisation details, cfn-policy-validator calls IAM Access Analyzer.
So this is a small evaluator of the IAM policy language, following "Policy evaluation logic" of the IAM user guide
for principals and resources of one account:

- an explicit Deny in any applicable policy (identity, resource, key, trust) wins;
- a role is allowed when its identity policies or the resource's policy allow the call (same account), except on a
  KMS key, where the key policy must allow it, directly or through the account-root statement that delegates to
  IAM (and then the identity policy must allow it);
- a service principal (cloudwatch.amazonaws.com, firehose.amazonaws.com, logging.s3.amazonaws.com ...) is allowed
  only by a resource policy: topic, bucket, queue, key policy, Lambda permission, or a role's trust policy;
- a call to a resource encrypted with a customer managed key also needs the key: kms:GenerateDataKey and
  kms:Decrypt for writes (SNS Publish, SQS SendMessage, S3 PutObject), kms:Decrypt for reads.

What it understands: Effect, Action/NotAction and Resource/NotResource with `*` and `?` wildcards (actions case
insensitive), Principal (`*`, AWS, Service), and the condition operators these templates use: Bool, StringEquals,
StringNotEquals, StringLike, ArnEquals, ArnLike, NumericLessThan, with the IfExists suffix. Anything else (another
operator, NotPrincipal, an intrinsic function it cannot resolve, an AWS managed policy it does not know) raises
`UnsupportedPolicyError` rather than guessing. Templates are resolved symbolically: pseudo parameters become the
account, region and partition given, every resource gets a deterministic physical name and the ARN of its type,
Fn::ImportValue reads the exporting template's output.

The context a real call carries is explicit (`Call`): aws:SecureTransport true and an s3:TlsVersion of 1.2
(the SDKs), and for a service principal aws:SourceAccount and aws:SourceArn of the resource it acts for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PARTITION = "aws"


class UnsupportedPolicyError(ValueError):
    """The evaluator met a construct it does not model; it refuses instead of guessing."""


# AWS managed policies the stacks attach, as the IAM managed-policy reference publishes them (only those in use).
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "service-role/AWSLambdaMSKExecutionRole": [
        {
            "Effect": "Allow",
            "Action": [
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeVpcs",
                "ec2:DeleteNetworkInterface",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "kafka:DescribeCluster",
                "kafka:DescribeClusterV2",
                "kafka:GetBootstrapBrokers",
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            "Resource": "*",
        }
    ],
    "service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
}

# Physical-name property, and ARN pattern ({name}, {a} account, {r} region, {p} partition), per resource type.
_NAMES: dict[str, tuple[str | None, str]] = {
    "AWS::SNS::Topic": ("TopicName", "arn:{p}:sns:{r}:{a}:{name}"),
    "AWS::S3::Bucket": ("BucketName", "arn:{p}:s3:::{name}"),
    "AWS::KMS::Key": (None, "arn:{p}:kms:{r}:{a}:key/{name}"),
    "AWS::Kinesis::Stream": ("Name", "arn:{p}:kinesis:{r}:{a}:stream/{name}"),
    "AWS::Lambda::Function": ("FunctionName", "arn:{p}:lambda:{r}:{a}:function:{name}"),
    "AWS::IAM::Role": ("RoleName", "arn:{p}:iam::{a}:role/{name}"),
    "AWS::SQS::Queue": ("QueueName", "arn:{p}:sqs:{r}:{a}:{name}"),
    "AWS::DynamoDB::Table": ("TableName", "arn:{p}:dynamodb:{r}:{a}:table/{name}"),
    "AWS::Logs::LogGroup": ("LogGroupName", "arn:{p}:logs:{r}:{a}:log-group:{name}:*"),
    "AWS::CloudWatch::Alarm": ("AlarmName", "arn:{p}:cloudwatch:{r}:{a}:alarm:{name}"),
    "AWS::KinesisFirehose::DeliveryStream": ("DeliveryStreamName", "arn:{p}:firehose:{r}:{a}:deliverystream/{name}"),
}
# What Ref returns, when it is not the physical name.
_REF_IS_ARN = {"AWS::SNS::Topic"}
_SINGLE_KEYS = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class Located:
    """A resource found in the templates: which template, its logical id, type and definition."""

    stack: str
    logical_id: str
    type: str
    definition: dict[str, Any]

    @property
    def properties(self) -> dict[str, Any]:
        return self.definition.get("Properties", {})


class Templates:
    """Synthesised templates (stack name -> template JSON) with symbolic resolution of their intrinsics."""

    def __init__(self, templates: Mapping[str, dict[str, Any]], account: str = ACCOUNT, region: str = REGION) -> None:
        self.templates = dict(templates)
        self.account = account
        self.region = region
        self._exports: dict[str, tuple[str, Any]] = {}
        for stack, template in self.templates.items():
            for output in template.get("Outputs", {}).values():
                if "Export" in output:
                    self._exports[self.resolve(stack, output["Export"]["Name"])] = (stack, output["Value"])

    # -- lookups ------------------------------------------------------------------------------------------------

    def resources(self, resource_type: str | None = None) -> list[Located]:
        found = []
        for stack, template in self.templates.items():
            for logical_id, definition in template.get("Resources", {}).items():
                if resource_type is None or definition["Type"] == resource_type:
                    found.append(Located(stack, logical_id, definition["Type"], definition))
        return found

    def find(self, resource_type: str, where: Mapping[str, Any] | None = None) -> list[Located]:
        """Resources of a type whose properties contain `where` (nested dicts match as subsets)."""
        return [r for r in self.resources(resource_type) if _contains(r.properties, where or {})]

    def one(self, resource_type: str, where: Mapping[str, Any] | None = None) -> Located:
        found = self.find(resource_type, where)
        if len(found) != 1:
            raise LookupError(f"expected one {resource_type} with {where}, found {len(found)}")
        return found[0]

    def get(self, stack: str, logical_id: str) -> Located:
        definition = self.templates[stack]["Resources"][logical_id]
        return Located(stack, logical_id, definition["Type"], definition)

    def locate_ref(self, stack: str, value: Any) -> Located:
        """The resource a `{"Ref": id}` / `{"Fn::GetAtt": [id, attr]}` / imported reference points at."""
        if isinstance(value, dict) and "Ref" in value:
            return self.get(stack, value["Ref"])
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return self.get(stack, value["Fn::GetAtt"][0])
        if isinstance(value, dict) and "Fn::ImportValue" in value:
            source_stack, exported = self._exports[self.resolve(stack, value["Fn::ImportValue"])]
            return self.locate_ref(source_stack, exported)
        raise UnsupportedPolicyError(f"not a reference to a resource: {value!r}")

    # -- names and ARNs -----------------------------------------------------------------------------------------

    def physical_name(self, resource: Located) -> str:
        name_property, _ = _NAMES.get(resource.type, (None, ""))
        explicit = resource.properties.get(name_property) if name_property else None
        if resource.type == "AWS::Glue::Database":
            explicit = resource.properties.get("DatabaseInput", {}).get("Name")
        elif resource.type == "AWS::Glue::Table":
            explicit = resource.properties.get("TableInput", {}).get("Name")
        if explicit is not None:
            return self.resolve(resource.stack, explicit)
        return f"{resource.stack}-{resource.logical_id}".lower()

    def arn(self, resource: Located) -> str:
        _, pattern = _NAMES.get(resource.type, (None, ""))
        if not pattern:
            raise UnsupportedPolicyError(f"no ARN pattern for {resource.type}")
        return pattern.format(p=PARTITION, r=self.region, a=self.account, name=self.physical_name(resource))

    def _ref(self, stack: str, name: str) -> str:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack,
        }
        if name in pseudo:
            return pseudo[name]
        resource = self.get(stack, name)
        if resource.type in _REF_IS_ARN:
            return self.arn(resource)
        if resource.type == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self.physical_name(resource)}"
        return self.physical_name(resource)

    def _get_att(self, stack: str, logical_id: str, attribute: str) -> str:
        resource = self.get(stack, logical_id)
        if attribute == "Arn":
            return self.arn(resource)
        if attribute in ("QueueName", "TopicName", "Name"):
            return self.physical_name(resource)
        if attribute == "KeyId":
            return self.physical_name(resource)
        return f"{self.physical_name(resource)}.{attribute}"

    def resolve(self, stack: str, value: Any) -> Any:
        """A template value with every intrinsic function replaced by its symbolic value."""
        if isinstance(value, list):
            return [self.resolve(stack, v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not (next(iter(value)) == "Ref" or next(iter(value)).startswith("Fn::")):
            return {k: self.resolve(stack, v) for k, v in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self._ref(stack, argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._get_att(stack, logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(stack, p)) for p in parts)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            variables = {k: self.resolve(stack, v) for k, v in variables.items()}

            def substitute(match: re.Match[str]) -> str:
                key = match.group(1)
                if key in variables:
                    return str(variables[key])
                if "." in key and not key.startswith("AWS::"):
                    return self._get_att(stack, *key.split(".", 1))
                return self._ref(stack, key)

            return _SINGLE_KEYS.sub(substitute, text)
        if function == "Fn::ImportValue":
            name = self.resolve(stack, argument)
            if name not in self._exports:
                raise UnsupportedPolicyError(f"no stack exports {name!r}")
            source_stack, exported = self._exports[name]
            return self.resolve(source_stack, exported)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(stack, items)[int(self.resolve(stack, index))]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(stack, text)).split(separator)
        raise UnsupportedPolicyError(f"intrinsic function {function} is not modelled")


def _contains(properties: Any, where: Any) -> bool:
    """`where` is part of `properties`: dict keys recursively, each list item in some item of the list."""
    if isinstance(where, dict):
        return isinstance(properties, dict) and all(
            k in properties and _contains(properties[k], v) for k, v in where.items()
        )
    if isinstance(where, list):
        return isinstance(properties, list) and all(any(_contains(p, w) for p in properties) for w in where)
    return properties == where


# -- the policy language ------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_match(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """IAM's wildcards: `*` any run of characters (also `/` and `:`), `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


@dataclass(frozen=True)
class Caller:
    """Who makes a call: a role (its ARN) or a service principal acting for `source_arn`."""

    role_arn: str | None = None
    service: str | None = None
    source_arn: str | None = None
    source_account: str | None = None

    def __str__(self) -> str:
        return self.role_arn or f"{self.service} (for {self.source_arn})"


@dataclass(frozen=True)
class Call:
    caller: Caller
    action: str
    resource: str
    # Request context beyond what the caller implies (e.g. sts:ExternalId); TLS is always on.
    context: Mapping[str, str] = field(default_factory=dict)

    def context_values(self) -> dict[str, str]:
        values = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.2"}
        if self.caller.role_arn:
            values["aws:PrincipalArn"] = self.caller.role_arn
            values["aws:PrincipalAccount"] = self.caller.role_arn.split(":")[4]
        if self.caller.service:
            if self.caller.source_arn:
                values["aws:SourceArn"] = self.caller.source_arn
            if self.caller.source_account:
                values["aws:SourceAccount"] = self.caller.source_account
        values.update(self.context)
        return values


def _string_in(operator: str, wanted: list[str], actual: str) -> bool:
    if operator in ("StringLike", "ArnLike"):
        return any(wildcard_match(w, actual) for w in wanted)
    return actual in wanted


def conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    """Every operator block holds: within one, every key holds; a key holds when any of its values matches."""
    for operator, block in conditions.items():
        base, if_exists = (operator[: -len("IfExists")], True) if operator.endswith("IfExists") else (operator, False)
        for key, raw in block.items():
            wanted = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(raw)]
            actual = next((v for k, v in context.items() if k.lower() == key.lower()), None)
            if actual is None:
                if if_exists:
                    continue
                # A missing key makes a positive operator false and a negated one true (IAM user guide).
                if base.startswith(("StringNot", "ArnNot")):
                    continue
                return False
            if base == "Bool":
                holds = actual.lower() in [w.lower() for w in wanted]
            elif base in ("StringEquals", "StringLike", "ArnEquals", "ArnLike"):
                holds = _string_in(base, wanted, actual)
            elif base == "StringNotEquals":
                holds = actual not in wanted
            elif base == "NumericLessThan":
                holds = any(float(actual) < float(w) for w in wanted)
            else:
                raise UnsupportedPolicyError(f"condition operator {operator} is not modelled")
            if not holds:
                return False
    return True


def _principal_matches(principal: Any, caller: Caller, account: str) -> bool:
    """Whether a resource-policy Principal names the caller. `account_root` grants are handled by the caller."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        raise UnsupportedPolicyError(f"principal {principal!r} is not modelled")
    for kind, values in principal.items():
        for value in _as_list(values):
            if kind == "AWS" and (value == "*" or (caller.role_arn is not None and value == caller.role_arn)):
                return True
            if kind == "Service" and caller.service is not None and value == caller.service:
                return True
    return False


def _is_account_root(principal: Any, account: str) -> bool:
    if not isinstance(principal, dict):
        return False
    return any(v in (f"arn:{PARTITION}:iam::{account}:root", account) for v in _as_list(principal.get("AWS", [])))


def statement_applies(statement: Mapping[str, Any], call: Call) -> bool:
    """Action, resource and conditions of one statement match the call (the principal is checked separately)."""
    if "NotPrincipal" in statement:
        raise UnsupportedPolicyError("NotPrincipal is not modelled")
    if "Action" in statement:
        action_ok = any(wildcard_match(a, call.action, case_sensitive=False) for a in _as_list(statement["Action"]))
    else:
        action_ok = not any(
            wildcard_match(a, call.action, case_sensitive=False) for a in _as_list(statement["NotAction"])
        )
    if not action_ok:
        return False
    if "Resource" in statement:
        resource_ok = any(wildcard_match(r, call.resource) for r in _as_list(statement["Resource"]))
    elif "NotResource" in statement:
        resource_ok = not any(wildcard_match(r, call.resource) for r in _as_list(statement["NotResource"]))
    else:
        resource_ok = True  # trust policies name no resource: the role itself
    return resource_ok and conditions_hold(statement.get("Condition", {}), call.context_values())


# -- evaluation over the templates --------------------------------------------------------------------------------


@dataclass
class Verdict:
    call: Call
    allowed: bool
    reasons: list[str]

    def aws_error(self) -> str:
        """The message AWS gives a refused call: for a service acting for a resource, the form CloudWatch records
        in an alarm's history; for a role, the AccessDenied form."""
        service, _, operation = self.call.action.partition(":")
        if self.call.caller.service:
            who = f"Resource: {self.call.caller.source_arn}"
            action = f"{service.upper()}:{operation}"
        else:
            who, action = f"User: {self.call.caller.role_arn}", self.call.action
        return f"{who} is not authorized to perform: {action} on resource: {self.call.resource}"


class WiringChecker:
    """Evaluates calls against the identity, resource, key and trust policies of the templates."""

    def __init__(self, templates: Templates) -> None:
        self.t = templates
        self._identity: dict[str, list[dict[str, Any]]] = {}
        self._resource_policies: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._keys: dict[str, str] = {}  # resource ARN -> customer managed key ARN
        self._collect()

    @property
    def account(self) -> str:
        return self.t.account

    def role_arn(self, role: Located) -> str:
        return self.t.arn(role)

    def _collect(self) -> None:
        t = self.t
        for role in t.resources("AWS::IAM::Role"):
            arn = t.arn(role)
            statements = self._identity.setdefault(arn, [])
            for inline in role.properties.get("Policies", []):
                statements += _as_list(t.resolve(role.stack, inline["PolicyDocument"]["Statement"]))
            for managed in role.properties.get("ManagedPolicyArns", []):
                name = str(t.resolve(role.stack, managed)).split(":policy/", 1)[1]
                if name not in MANAGED_POLICIES:
                    raise UnsupportedPolicyError(f"AWS managed policy {name} is not modelled")
                statements += MANAGED_POLICIES[name]
            trust = t.resolve(role.stack, role.properties["AssumeRolePolicyDocument"])
            self._resource_policies.setdefault(arn, []).extend(("trust", s) for s in trust["Statement"])
        for policy in t.resources("AWS::IAM::Policy"):
            statements = _as_list(t.resolve(policy.stack, policy.properties["PolicyDocument"]["Statement"]))
            for role_ref in policy.properties.get("Roles", []):
                self._identity.setdefault(t.arn(t.locate_ref(policy.stack, role_ref)), []).extend(statements)
        attached = {
            "AWS::SNS::TopicPolicy": ("Topics", "topic"),
            "AWS::SQS::QueuePolicy": ("Queues", "queue"),
            "AWS::S3::BucketPolicy": ("Bucket", "bucket"),
        }
        for policy_type, (targets_key, kind) in attached.items():
            for policy in t.resources(policy_type):
                statements = _as_list(t.resolve(policy.stack, policy.properties["PolicyDocument"]["Statement"]))
                for target in _as_list(policy.properties[targets_key]):
                    arn = t.arn(t.locate_ref(policy.stack, target))
                    self._resource_policies.setdefault(arn, []).extend((kind, s) for s in statements)
        for key in t.resources("AWS::KMS::Key"):
            arn = t.arn(key)
            statements = t.resolve(key.stack, key.properties["KeyPolicy"])["Statement"]
            # In a key policy, Resource "*" means this key.
            self._resource_policies.setdefault(arn, []).extend(
                ("key", {**s, "Resource": arn if s.get("Resource") == "*" else s.get("Resource")}) for s in statements
            )
        for permission in t.resources("AWS::Lambda::Permission"):
            p = t.resolve(permission.stack, permission.properties)
            function = t.locate_ref(permission.stack, permission.properties["FunctionName"])
            statement: dict[str, Any] = {
                "Effect": "Allow",
                "Principal": {"Service": p["Principal"]}
                if p["Principal"].endswith(".amazonaws.com")
                else {"AWS": p["Principal"]},
                "Action": p["Action"],
                "Resource": [t.arn(function), f"{t.arn(function)}:*"],
            }
            conditions: dict[str, dict[str, str]] = {}
            if "SourceArn" in p:
                conditions["ArnLike"] = {"aws:SourceArn": p["SourceArn"]}
            if "SourceAccount" in p:
                conditions["StringEquals"] = {"aws:SourceAccount": p["SourceAccount"]}
            if conditions:
                statement["Condition"] = conditions
            self._resource_policies.setdefault(t.arn(function), []).append(("lambda", statement))
        for topic in t.resources("AWS::SNS::Topic"):
            self._note_key(topic, topic.properties.get("KmsMasterKeyId"))
        for queue in t.resources("AWS::SQS::Queue"):
            self._note_key(queue, queue.properties.get("KmsMasterKeyId"))
        for stream in t.resources("AWS::Kinesis::Stream"):
            self._note_key(stream, stream.properties.get("StreamEncryption", {}).get("KeyId"))
        for bucket in t.resources("AWS::S3::Bucket"):
            for rule in bucket.properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
                self._note_key(bucket, rule.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID"))

    def _note_key(self, resource: Located, key_ref: Any) -> None:
        if key_ref is None:
            return
        if isinstance(key_ref, str):
            if key_ref.startswith("alias/aws/"):
                return  # AWS managed keys allow every principal of the account that may use the service
            raise UnsupportedPolicyError(f"key {key_ref!r} of {resource.logical_id} is not modelled")
        key = self.t.locate_ref(resource.stack, key_ref)
        self._keys[self.t.arn(resource)] = self.t.arn(key)

    def _resource_arn_base(self, resource: str) -> str:
        """The ARN whose resource policy governs `resource` (an object ARN belongs to its bucket)."""
        if resource.startswith(f"arn:{PARTITION}:s3:::"):
            return resource.split("/", 1)[0]
        if resource.startswith(f"arn:{PARTITION}:lambda:"):
            return ":".join(resource.split(":")[:7])
        return resource

    def key_of(self, resource: str) -> str | None:
        return self._keys.get(self._resource_arn_base(resource))

    def evaluate(self, call: Call) -> Verdict:
        """Allowed or not, with the reasons, for one call; includes the KMS calls the service makes for it."""
        verdict = self._evaluate_one(call)
        key = self.key_of(call.resource)
        if key is None or call.action.startswith(("kms:", "sts:")):
            return verdict
        writes = call.action.lower() in {
            "sns:publish",
            "sqs:sendmessage",
            "s3:putobject",
            "kinesis:putrecords",
            "kinesis:putrecord",
        }
        for kms_action in ["kms:GenerateDataKey", "kms:Decrypt"] if writes else ["kms:Decrypt"]:
            key_verdict = self._evaluate_one(Call(call.caller, kms_action, key, call.context))
            if not key_verdict.allowed:
                verdict.allowed = False
                verdict.reasons.append(f"{call.resource} is encrypted with {key}: " + "; ".join(key_verdict.reasons))
        return verdict

    def _evaluate_one(self, call: Call) -> Verdict:
        caller = call.caller
        identity = self._identity.get(caller.role_arn, []) if caller.role_arn else []
        resource_policy = self._resource_policies.get(self._resource_arn_base(call.resource), [])
        reasons: list[str] = []

        def applying(statements: Iterable[dict[str, Any]], effect: str) -> list[dict[str, Any]]:
            return [s for s in statements if s["Effect"] == effect and statement_applies(s, call)]

        named = [s for _, s in resource_policy if _principal_matches(s.get("Principal"), caller, self.account)]
        via_root = [
            s for _, s in resource_policy if caller.role_arn and _is_account_root(s.get("Principal"), self.account)
        ]
        denies = applying(identity, "Deny") + applying(named, "Deny")
        if denies:
            return Verdict(call, False, [f"explicitly denied by {s.get('Sid', 'a statement')}" for s in denies])
        identity_allows = bool(applying(identity, "Allow"))
        resource_allows = bool(applying(named, "Allow"))
        is_key = any(kind == "key" for kind, _ in resource_policy)
        is_trust = any(kind == "trust" for kind, _ in resource_policy)
        if is_key:
            root_delegates = bool(applying(via_root, "Allow"))
            allowed = resource_allows or (root_delegates and identity_allows)
            if not allowed:
                reasons.append(
                    "the key policy does not allow it"
                    if not root_delegates or not caller.role_arn
                    else "the key policy delegates to IAM, and no identity policy allows it"
                )
        elif is_trust:
            allowed = resource_allows
            if not allowed:
                reasons.append("the role's trust policy does not allow it")
        elif caller.service:
            allowed = resource_allows
            if not allowed:
                reasons.append(
                    "no resource policy allows the service principal"
                    if resource_policy
                    else "the resource has no policy, and a service principal needs one"
                )
        else:
            allowed = identity_allows or resource_allows
            if not allowed:
                reasons.append("neither the role's identity policies nor a resource policy allow it")
        return Verdict(call, allowed, reasons)


# -- the parts of the design, found by what they are (never by generated logical ids) ---------------------------

PROCESSOR_HANDLER = "lambdas.processor.handler.handler"
TRANSFORM_HANDLER = "lambdas.transform.handler.handler"
BRIDGE_HANDLER = "lambdas.bridge.handler.handler"
METRICS_HANDLER = "lambdas.metrics.handler.handler"
_HANDLERS = {
    "processor": PROCESSOR_HANDLER,
    "transform": TRANSFORM_HANDLER,
    "bridge": BRIDGE_HANDLER,
    "metrics": METRICS_HANDLER,
}
# Each table by its TTL attribute (stacks/processor.py, stacks/metrics.py).
_TABLES = {"idempotency": "expiration", "windows": "expires_at"}
_TOPICS = {"alerts": "streamlake alerts", "ops": "streamlake pipeline alarms"}
# Each bucket by a lifecycle rule only it has (stacks/storage.py).
_BUCKETS = {"lake": "raw-to-ia-then-glacier", "access-logs": "expire-logs", "results": "expire-results"}


class DesignParts:
    """Symbolic names of the design's parts -> ARNs in the templates.

    Callers: `role:processor|transform|bridge|metrics|firehose`, `service:<principal>@alarms` (each alarm),
    `service:<principal>@bucket:<name>` (a bucket acting, e.g. server access logging), `service:<principal>@account`.
    Resources: `topic:alerts|ops`, `key:topics`, `bucket:<name>`, `object:<bucket>/<key>`, `stream`, `queue:dlq`,
    `table:idempotency|windows`, `function:<name>`, `logs:<function or firehose>` (a log stream of its group),
    `role:<name>` (for sts:AssumeRole), `glue:catalog|database|table:<name>`, `kafka:cluster|topic|group` (the
    bridge's MSK mappings), `secret:bridge` (the SASL secret of its mappings), or a literal ARN (`arn:...`).
    """

    def __init__(self, templates: Templates) -> None:
        self.t = templates

    def function(self, name: str) -> Located:
        return self.t.one("AWS::Lambda::Function", {"Handler": _HANDLERS[name]})

    def has_function(self, name: str) -> bool:
        return bool(self.t.find("AWS::Lambda::Function", {"Handler": _HANDLERS[name]}))

    def delivery_stream(self) -> Located:
        return self.t.one("AWS::KinesisFirehose::DeliveryStream")

    def role(self, name: str) -> Located:
        if name == "firehose":
            stream = self.delivery_stream()
            ref = stream.properties["KinesisStreamSourceConfiguration"]["RoleARN"]
            return self.t.locate_ref(stream.stack, ref)
        function = self.function(name)
        return self.t.locate_ref(function.stack, function.properties["Role"])

    def alarm_arns(self) -> list[str]:
        return [self.t.arn(a) for a in self.t.resources("AWS::CloudWatch::Alarm")]

    def callers(self, spec: str) -> list[Caller]:
        kind, _, rest = spec.partition(":")
        if kind == "role":
            return [Caller(role_arn=self.t.arn(self.role(rest)))]
        if kind == "service":
            principal, _, source = rest.partition("@")
            if source == "alarms":
                sources = self.alarm_arns()
                if not sources:
                    raise LookupError("no CloudWatch alarms in the templates")
            elif source == "account":
                sources = [None]
            else:
                sources = [self.resource(source)]
            return [Caller(service=principal, source_arn=s, source_account=self.t.account) for s in sources]
        raise ValueError(f"unknown caller {spec!r}")

    def resource(self, spec: str) -> str:
        if spec.startswith("arn:"):
            return spec
        kind, _, rest = spec.partition(":")
        t = self.t
        if kind == "topic":
            return t.arn(t.one("AWS::SNS::Topic", {"DisplayName": _TOPICS[rest]}))
        if kind == "key" and rest == "topics":
            return t.arn(t.one("AWS::KMS::Key", {"Description": "streamlake SNS topics"}))
        if kind == "bucket":
            return t.arn(self._bucket(rest))
        if kind == "object":
            bucket, _, key = rest.partition("/")
            return f"{t.arn(self._bucket(bucket))}/{key}"
        if kind == "stream":
            return t.arn(t.one("AWS::Kinesis::Stream"))
        if kind == "queue" and rest == "dlq":
            return t.arn(t.one("AWS::SQS::Queue"))
        if kind == "table" and rest in _TABLES:
            ttl = {"TimeToLiveSpecification": {"AttributeName": _TABLES[rest]}}
            return t.arn(t.one("AWS::DynamoDB::Table", ttl))
        if kind == "function":
            return t.arn(self.function(rest))
        if kind == "role":
            return t.arn(self.role(rest))
        if kind == "logs":
            return f"{t.arn(self._log_group(rest)).removesuffix(':*')}:log-stream:2026/12/02/[$LATEST]0123456789abcdef"
        if kind == "glue":
            return self._glue(rest)
        if kind == "kafka":
            return self._kafka(rest)
        if kind == "secret" and rest == "bridge":
            # The ESM names the secret by name; its real ARN ends in "-" and six random characters.
            mapping = self._bridge_mappings()[0]
            uri = mapping.properties["SourceAccessConfigurations"][0]["URI"]
            return f"{t.resolve(mapping.stack, uri)}-AbC123"
        raise ValueError(f"unknown resource {spec!r}")

    def _bridge_mappings(self) -> list[Located]:
        found = self.t.find("AWS::Lambda::EventSourceMapping", {"Topics": []})
        if not found:
            raise LookupError("no Kafka event source mapping in the templates")
        return found

    def _kafka(self, spec: str) -> str:
        """MSK resources of the bridge's mappings: `cluster`, `topic` (each topic's ARN: the first), `group`."""
        mapping = self._bridge_mappings()[0]
        cluster = str(self.t.resolve(mapping.stack, mapping.properties["EventSourceArn"]))
        if spec == "cluster":
            return cluster
        if spec == "topic":
            return f"{cluster.replace(':cluster/', ':topic/', 1)}/{mapping.properties['Topics'][0]}"
        if spec == "group":
            group = mapping.properties["AmazonManagedKafkaEventSourceConfig"]["ConsumerGroupId"]
            return f"{cluster.replace(':cluster/', ':group/', 1)}/{group}"
        raise ValueError(f"unknown Kafka resource {spec!r}")

    def _bucket(self, name: str) -> Located:
        rule = {"LifecycleConfiguration": {"Rules": [{"Id": _BUCKETS[name]}]}}
        return self.t.one("AWS::S3::Bucket", rule)

    def _log_group(self, name: str) -> Located:
        if name == "firehose":
            stream = self.delivery_stream()
            options = stream.properties["ExtendedS3DestinationConfiguration"]["CloudWatchLoggingOptions"]
            return self.t.locate_ref(stream.stack, options["LogGroupName"])
        function = self.function(name)
        return self.t.locate_ref(function.stack, function.properties["LoggingConfig"]["LogGroup"])

    def _glue(self, spec: str) -> str:
        t = self.t
        base = f"arn:{PARTITION}:glue:{t.region}:{t.account}"
        database = t.physical_name(t.one("AWS::Glue::Database"))
        if spec == "catalog":
            return f"{base}:catalog"
        if spec == "database":
            return f"{base}:database/{database}"
        kind, _, table = spec.partition(":")
        if kind == "table":
            return f"{base}:table/{database}/{table}"
        raise ValueError(f"unknown Glue resource {spec!r}")


@dataclass(frozen=True)
class Edge:
    """One call the design makes: `caller` calls `action` on `resource` (DesignParts names). `allowed` False marks a
    call that must be refused (least privilege). `when`: all | kafka | msk | msk-iam | confluent."""

    caller: str
    action: str
    resource: str
    why: str
    allowed: bool = True
    when: str = "all"
    context: tuple[tuple[str, str], ...] = ()


def kafka_mode(parts: DesignParts) -> str:
    """none | msk | msk-iam | confluent, read from the bridge's event source mappings."""
    if not parts.has_function("bridge"):
        return "none"
    mappings = parts.t.find("AWS::Lambda::EventSourceMapping", {"Topics": []})
    if any("SelfManagedEventSource" in m.properties for m in mappings):
        return "confluent"
    # MSK with a SASL/SCRAM secret names it in SourceAccessConfigurations; without one the bridge uses IAM auth.
    if any("SourceAccessConfigurations" in m.properties for m in mappings):
        return "msk"
    return "msk-iam"


def applies(edge: Edge, mode: str) -> bool:
    if edge.when == "all":
        return True
    if edge.when == "kafka":
        return mode != "none"
    if edge.when == "msk":
        return mode in ("msk", "msk-iam")
    return edge.when == mode


@dataclass
class EdgeResult:
    edge: Edge
    verdicts: list[Verdict]

    @property
    def ok(self) -> bool:
        return all(v.allowed == self.edge.allowed for v in self.verdicts)

    def describe(self) -> str:
        state = "ok  " if self.ok else "FAIL"
        expected = "allowed" if self.edge.allowed else "refused"
        lines = [f"{state} {self.edge.caller} {self.edge.action} {self.edge.resource} ({expected}: {self.edge.why})"]
        for verdict in self.verdicts:
            if verdict.allowed != self.edge.allowed:
                got = "allowed" if verdict.allowed else "; ".join(verdict.reasons) or "refused"
                lines.append(f"       {verdict.call.caller}: {got}")
        return "\n".join(lines)


def check_edges(templates: Templates, edges: Iterable[Edge]) -> list[EdgeResult]:
    """Evaluate every edge that applies to the templates' Kafka mode."""
    checker = WiringChecker(templates)
    parts = DesignParts(templates)
    mode = kafka_mode(parts)
    results = []
    for edge in edges:
        if not applies(edge, mode):
            continue
        resource = parts.resource(edge.resource)
        verdicts = [
            checker.evaluate(Call(caller, edge.action, resource, dict(edge.context)))
            for caller in parts.callers(edge.caller)
        ]
        results.append(EdgeResult(edge, verdicts))
    return results
