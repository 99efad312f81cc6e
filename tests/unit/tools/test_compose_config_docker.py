"""`docker compose config` accepts every compose file the tool hardened.

Needs a Docker engine and the project's host image (Compose v2 is installed in it from
Debian 13's docker-compose package): runs only with DOCKHARD_DOCKER_TESTS=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools"))

import docker_security_fixes as dsf

pytestmark = pytest.mark.skipif(
    os.environ.get("DOCKHARD_DOCKER_TESTS") != "1", reason="set DOCKHARD_DOCKER_TESTS=1"
)
CORPUS = Path(__file__).parent / "corpus"
IMAGE = os.environ.get("DOCKHARD_HOST_IMAGE", "dockhard/host:trixie")
SCRIPT = """
apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null 2>&1 || exit 3
cd /x
for f in "$@"; do
  if docker compose -f "$f" config -q; then echo "OK $f"; else echo "FAIL $f"; fi
done
"""


def test_docker_compose_config_accepts_hardened_files(tmp_path: Path) -> None:
    project = tmp_path / "corpus"
    shutil.copytree(CORPUS, project)
    assert dsf.main(["--no-validate", str(project)]) == 0
    files = sorted(
        str(p.relative_to(project)) for p in project.rglob("*") if dsf.kind_of(p) == "compose"
    )
    argv = ["docker", "run", "--rm", "--name", f"dockhard-fixes-config-{os.getpid()}"]
    argv += ["-v", f"{project}:/x:ro", "--entrypoint", "sh", IMAGE, "-c", SCRIPT, "sh", *files]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()[1::2]) == files, result.stdout + result.stderr
    assert "FAIL" not in result.stdout, result.stdout + result.stderr
