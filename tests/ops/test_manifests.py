"""Every Kubernetes manifest validates against the Kubernetes schemas; the compose file against the Compose spec.

kubeconform is on neither PyPI nor npm, so the validator is kubernetes-validate (PyPI), which carries the
Kubernetes JSON schemas of every release it supports in its wheel: no network at test time. Strict mode
refuses fields the schema does not know, so a typo cannot pass as an ignored field.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from gateway.config import load_config
from tests.conftest import REPO_ROOT
from tests.ops.tools import require_tool

KUBERNETES = REPO_ROOT / "deploy" / "kubernetes"
#: The oldest release the manifests are meant for (PreStop sleep, restricted Pod Security labels).
KUBERNETES_VERSION = "1.33"


def kubernetes_validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    tool = require_tool("kubernetes-validate", "the test extra installs kubernetes-validate")
    command = [tool, "-k", KUBERNETES_VERSION, "--strict", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def rendered_configmaps(tmp_path: Path) -> Path:
    out = tmp_path / "configmaps.yaml"
    command = [sys.executable, str(KUBERNETES / "configmaps.py"), "--config-dir", str(REPO_ROOT)]
    out.write_text(subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout)
    return out


def test_every_manifest_validates_against_the_kubernetes_schemas(tmp_path: Path) -> None:
    manifests = sorted(KUBERNETES.glob("*.yaml"))
    completed = kubernetes_validate(*manifests, rendered_configmaps(tmp_path))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    kinds = {doc["kind"] for path in manifests for doc in yaml.safe_load_all(path.read_text()) if doc}
    wanted = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"}
    assert wanted <= kinds


def test_the_validator_refuses_an_unknown_field(tmp_path: Path) -> None:
    """Strict mode is on: a misspelt field fails instead of being ignored."""
    broken = tmp_path / "broken.yaml"
    broken.write_text((KUBERNETES / "service.yaml").read_text().replace("targetPort:", "targetPorts:"))
    assert kubernetes_validate(broken).returncode != 0


def test_the_gateway_runs_non_root_on_a_read_only_root_with_probes_and_secret_keys() -> None:
    deployment = yaml.safe_load((KUBERNETES / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)
    assert container["resources"]["requests"] and container["resources"]["limits"]
    secrets = {
        e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert secrets == {"callgate-keys"}
    mounted = {volume["configMap"]["name"] for volume in pod["volumes"] if "configMap" in volume}
    assert mounted == {"callgate-policies", "callgate-tool-specs"}
    # The drain after SIGTERM fits in the grace period.
    assert pod["terminationGracePeriodSeconds"] > 20 + container["lifecycle"]["preStop"]["sleep"]["seconds"]


def test_the_network_policy_lets_the_gateway_reach_only_redis_the_backends_and_dns() -> None:
    policies = {
        doc["metadata"]["name"]: doc for doc in yaml.safe_load_all((KUBERNETES / "networkpolicy.yaml").read_text())
    }
    gateway = policies["callgate"]["spec"]
    assert "Egress" in gateway["policyTypes"]
    ports = sorted(port["port"] for rule in gateway["egress"] for port in rule["ports"])
    assert ports == [53, 53, 6379, 8701]
    assert all("ipBlock" not in peer for rule in gateway["egress"] for peer in rule["to"])


def test_the_rendered_configmaps_hold_a_configuration_that_loads_without_the_demo_secrets(tmp_path: Path) -> None:
    documents = list(yaml.safe_load_all(rendered_configmaps(tmp_path).read_text()))
    by_name = {doc["metadata"]["name"]: doc["data"] for doc in documents}
    assert "demo-keys.env" not in by_name["callgate-policies"]
    assert "demo-jwt-private.pem" not in by_name["callgate-policies"]
    config_dir = tmp_path / "mounted"
    for directory, name in (("policies", "callgate-policies"), ("tool_specs", "callgate-tool-specs")):
        (config_dir / directory).mkdir(parents=True)
        for file, text in by_name[name].items():
            (config_dir / directory / file).write_text(text)
    config = load_config(config_dir, env={"CALLGATE_AUDIT_DIR": str(tmp_path / "audit")})
    assert set(config.tools) == {path.stem for path in (REPO_ROOT / "tool_specs").glob("*.yaml")}


def test_the_compose_file_validates_against_the_compose_spec() -> None:
    checker = require_tool("check-jsonschema", "the test extra installs check-jsonschema")
    compose = REPO_ROOT / "deploy" / "docker-compose.yml"
    command = [checker, "--builtin-schema", "vendor.compose-spec", str(compose)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    services = yaml.safe_load(compose.read_text())["services"]
    assert {"redis", "backends", "gateway-1", "gateway-2"} <= set(services)
    assert all("CALLGATE_REDIS_URL" in services[name]["environment"] for name in ("gateway-1", "gateway-2"))
