"""What every part of the tool shares: options, outcomes, errors, the secret-name rule."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROLE_FILES = Path(__file__).resolve().parents[2] / "roles" / "docker_daemon" / "files"
DEFAULT_BASELINE = ROLE_FILES / "daemon_baseline.json"
VALIDATOR = ROLE_FILES / "dockerd-validate"

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
SKIP_DIRS = {".git", ".venv", "node_modules", "secrets", "__pycache__"}
# A name holds a secret when one of its words contains one of these (ADMINPASSWORD,
# CLIENT_SECRET, AUTHTOKEN), ends in KEY (API_KEY, APIKEY, SECRETKEY, but not KEYCLOAK_URL
# or KEYSPACE), or is one of SECRET_PARTS; a PUBLIC key or a *_FILE path is no secret.
SECRET_INFIXES = ("PASSWORD", "PASSWD", "SECRET", "TOKEN")
SECRET_PARTS = {"PASS", "PWD", "CREDENTIAL", "CREDENTIALS", "PRIVATE", "KEYS"}
PLAIN_WORDS = {"MONKEY", "DONKEY", "TURKEY", "HOCKEY", "JOCKEY", "WHISKEY", "HOTKEY"}
PLAIN_WORDS |= {"TOKENIZER", "TOKENIZERS"}  # TOKENIZERS_PARALLELISM and the like
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst")
APP_UID = 10001
DISTROLESS_UID = 65532
HEALTH_OPTIONS = "--interval=30s --timeout=5s --start-period=15s --retries=3"


class FixError(Exception):
    """Input the tool cannot process; nothing is written."""


@dataclass
class Options:
    baseline: Path = DEFAULT_BASELINE
    skip_ids: frozenset[str] = frozenset()
    validate: bool = True
    mem_limit: str = "512m"
    cpus: float = 1.0
    cpu_shares: int = 512
    pids_limit: int = 200
    health_path: str = "/"


@dataclass
class Outcome:
    path: Path
    old: str
    new: str
    notes: list[str] = field(default_factory=list)
    extra_files: dict[Path, str] = field(default_factory=dict)
    # Other files to write next to it (old text, new text), e.g. a .dockerignore.
    side_files: dict[Path, tuple[str, str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.old != self.new or bool(self.extra_files) or bool(self.side_files)


# --------------------------------------------------------------------------- helpers


def secret_like(name: str) -> bool:
    """True for variable names that usually hold a secret (DB_PASSWORD, API_KEY, ...)."""
    parts = name.upper().replace("-", "_").split("_")
    if parts[-1] == "FILE" or "PUBLIC" in parts:
        return False
    return any(
        any(word in part for word in SECRET_INFIXES) or part.endswith("KEY") or part in SECRET_PARTS
        for part in parts
        if part not in PLAIN_WORDS
    )


def shell_words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError:
        return text.split()


def is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip in ("::1", "localhost")
