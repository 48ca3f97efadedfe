#!/usr/bin/env python3
"""Print the two ConfigMaps that carry a configuration directory: callgate-policies and callgate-tool-specs.

    python3 deploy/kubernetes/configmaps.py --config-dir /path/to/config | kubectl apply -f -

Every file of policies/ goes in, except the demo's own secrets (demo-keys.env, the demo identity
provider's private key): keys never belong in a ConfigMap; they come from Secrets (deployment.yaml).
Applying a changed ConfigMap is how a policy change rolls out: kubelet updates the mounted files in
every pod within a minute or so, each gateway reloads them (or keeps its running configuration and
says why in its log, metrics and audit trail), and its /readyz names the version in force.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

#: Files of policies/ that stay out of a ConfigMap: secrets of the demo, never of a deployment.
LEFT_OUT = ("demo-keys.env", "demo-jwt-private.pem")


class _Dumper(yaml.SafeDumper):
    """Files as literal blocks, so the ConfigMap reads like the files it carries."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def configmap(name: str, namespace: str, files: dict[str, str]) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": "callgate"}},
        "data": files,
    }


def render(config_dir: Path, namespace: str = "callgate") -> str:
    policies = {
        path.name: path.read_text()
        for path in sorted((config_dir / "policies").iterdir())
        if path.is_file() and not path.name.startswith(".") and path.name not in LEFT_OUT
    }
    specs = {path.name: path.read_text() for path in sorted((config_dir / "tool_specs").glob("*.y*ml"))}
    documents = [
        configmap("callgate-policies", namespace, policies),
        configmap("callgate-tool-specs", namespace, specs),
    ]
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, default=Path.cwd(), help="holds policies/ and tool_specs/")
    parser.add_argument("--namespace", default="callgate")
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.config_dir, args.namespace))
    return 0


if __name__ == "__main__":
    sys.exit(main())
