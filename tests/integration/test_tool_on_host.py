"""tools/docker_security_fixes.py against a real engine (Compose v2, buildx) on the host.

- `docker compose config` accepts every compose file of the tool's corpus once hardened;
- two corpus Dockerfiles, hardened by the tool, build, run as non-root and turn healthy;
- the original exercise's stack (files/original), hardened by the tool alone, builds,
  starts and turns healthy, and its web app answers on the loopback port the tool chose.

The tool runs on the controller; its output goes to the host in one tar. No registry is
reachable here, so each upstream base image the inputs name (python:3.9-alpine,
python:3.12-slim, python:3.11-slim, gcr.io/distroless/python3-debian12:nonroot,
postgres:13) is a documented stand-in built on the host from the root filesystems that
roles/docker_app builds from Debian's packages, and pip installs from a wheelhouse
downloaded on the controller (HTTPS to PyPI fails inside containers). A real image of
that name already on the host is used as it is. Everything made here (compose projects
dhtool-*, images, the work directory) is removed again: the app's project "dockhard" is
never touched, and no image without a HEALTHCHECK stays behind (CIS 4.6).

Skips where the app is not deployed (hosts without Compose v2, like the app tests).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import run_ok

pytestmark = pytest.mark.usefixtures("app_deployed")

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "docker_security_fixes.py"
CORPUS = ROOT / "tests" / "unit" / "tools" / "corpus"
REAL = ROOT / "tests" / "unit" / "tools" / "realworld"
ORIGINAL = ROOT / "files" / "original"
sys.path.insert(0, str(TOOL.parent))

import docker_security_fixes as dsf  # noqa: E402
from dockerfix import images as image_needs  # noqa: E402

WORK = "/tmp/dockhard-tool-test"
BASE_CACHE = "/var/cache/dockhard/base"  # roles/docker_app: docker_app_base_cache
# The app's reverse proxy listens on 127.0.0.1:15000 on the test host, so the copy of
# the original stack publishes 15080 instead (same short syntax, rebound by the tool).
EXERCISE_PORT = "15080"
# Variables the corpus compose files use; the port written with one is left (and
# reported) by the tool.
VARIABLE_PORT = "17000"
CORPUS_VARIABLES = (f"EDGE_PORT={VARIABLE_PORT}", "SESSION_TOKEN=not-a-secret")
WHEELS = ("Flask==3.0.3", "gunicorn==23.0.0")
# Every image made here carries it (images built FROM them inherit it): the teardown
# removes them by it.
LABEL = "org.dockhard.test=tool-on-host"
# Docker Content Trust (CIS 4.5) is for registry images; these are all local.
DOCKER = ["env", "DOCKER_CONTENT_TRUST=0", "docker"]

# ----------------------------------------------------------------- stand-in images
# Each stand-in mimics what the tool and the inputs rely on in the upstream image, and
# nothing more: the Python images' python/pip (offline, from the wheelhouse), Alpine's
# busybox adduser/wget, distroless' nonroot user and python3 entry point, and the
# postgres image's environment (POSTGRES_USER/_PASSWORD[_FILE]/_DB, PGDATA, the socket
# in /var/run/postgresql, mode 3777 as upstream: Docker gives a tmpfs mounted there the
# directory's mode, and root as owner).

PYTHON_STANDIN = """\
FROM dhtool-base/builder:test
RUN python3 -m venv /opt/python
COPY wheelhouse/ /opt/wheelhouse/
ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PIP_NO_INDEX=1 PIP_FIND_LINKS=/opt/wheelhouse PIP_DISABLE_PIP_VERSION_CHECK=1
CMD ["python3"]
"""

# Alpine's wget is busybox's (Debian's busybox-static). Its adduser and addgroup are
# busybox applets too, which Debian's build leaves out: two scripts map the busybox
# options the inputs and the tool use onto shadow's useradd/groupadd.
ALPINE_STANDIN = """\
FROM dhtool-standin/python:test
COPY busybox /usr/local/bin/busybox
COPY --chmod=0755 adduser addgroup /usr/local/sbin/
RUN ln -s busybox /usr/local/bin/wget
"""

ALPINE_ADDUSER = """\
#!/bin/sh
# adduser [-D] [-S] [-H] [-h HOME] [-g GECOS] [-s SHELL] [-G GROUP] [-u UID] USER
set -eu
home= gecos= shell=/bin/sh group= uid= system= create=--create-home
while getopts DSHh:g:s:G:u: opt; do
    case $opt in
        D) ;;
        S) system=--system ;;
        H) create=--no-create-home ;;
        h) home=$OPTARG ;;
        g) gecos=$OPTARG ;;
        s) shell=$OPTARG ;;
        G) group=$OPTARG ;;
        u) uid=$OPTARG ;;
        *) echo "adduser stand-in: unsupported option" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "usage: adduser [options] USER" >&2; exit 2; }
name=$1
if [ -z "$group" ]; then
    if [ -n "$system" ]; then
        group=nogroup
    else
        groupadd ${uid:+--gid "$uid"} "$name"
        group=$name
    fi
fi
useradd $system $create --home-dir "${home:-/home/$name}" --shell "$shell" \
    --gid "$group" --comment "$gecos" ${uid:+--uid "$uid"} "$name"
"""

ALPINE_ADDGROUP = """\
#!/bin/sh
# addgroup [-S] [-g GID] GROUP
set -eu
system= gid=
while getopts Sg: opt; do
    case $opt in
        S) system=--system ;;
        g) gid=$OPTARG ;;
        *) echo "addgroup stand-in: unsupported option" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "usage: addgroup [options] GROUP" >&2; exit 2; }
groupadd $system ${gid:+--gid "$gid"} "$1"
"""

DISTROLESS_STANDIN = """\
FROM dhtool-base/runtime:test
RUN groupadd --gid 65532 nonroot \\
    && useradd --uid 65532 --gid 65532 --home-dir /home/nonroot --create-home nonroot
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/bin/python3"]
"""

POSTGRES_STANDIN = """\
FROM dhtool-base/db:test
RUN ln -s /usr/lib/postgresql/*/bin/* /usr/local/bin/ \\
    && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \\
    && install -d -o postgres -g postgres -m 3777 /var/run/postgresql
COPY --chmod=0755 entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PGDATA=/var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
"""

# The upstream entrypoint's contract for a non-root start (written for this test).
POSTGRES_ENTRYPOINT = """\
#!/bin/sh
set -eu
if [ "$(id -u)" = 0 ]; then
    echo "stand-in postgres: start it as the postgres user" >&2
    exit 1
fi
user=${POSTGRES_USER:-postgres}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=${POSTGRES_PASSWORD_FILE:-}
    if [ -z "$pwfile" ]; then
        [ -n "${POSTGRES_PASSWORD:-}" ] || { echo "POSTGRES_PASSWORD is required" >&2; exit 1; }
        pwfile=$(mktemp)
        printf '%s\\n' "$POSTGRES_PASSWORD" >"$pwfile"
    fi
    initdb --pgdata="$PGDATA" --username="$user" --pwfile="$pwfile" \\
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    db=${POSTGRES_DB:-$user}
    if [ "$db" != postgres ]; then
        echo "CREATE DATABASE \\"$db\\";" | postgres --single -D "$PGDATA" postgres >/dev/null
    fi
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
"""

# The name an input uses -> the build context of its stand-in.
STANDINS = {
    "python:3.12-slim": "python",
    "python:3.11-slim": "python",
    "python:3.9-alpine": "alpine",
    "gcr.io/distroless/python3-debian12:nonroot": "distroless",
    "postgres:13": "postgres",
}
STANDIN_FILES = {
    "python": {"Dockerfile": PYTHON_STANDIN},
    "alpine": {
        "Dockerfile": ALPINE_STANDIN,
        "adduser": ALPINE_ADDUSER,
        "addgroup": ALPINE_ADDGROUP,
    },
    "distroless": {"Dockerfile": DISTROLESS_STANDIN},
    "postgres": {"Dockerfile": POSTGRES_STANDIN, "entrypoint.sh": POSTGRES_ENTRYPOINT},
}

# ----------------------------------------------------------------- well-known images
# The real-world compose files (tests/unit/tools/realworld) name official images. Their
# stand-ins share one root filesystem built on the host by roles/docker_app's own script
# (debootstrap of Debian trixie plus the packages below), so nginx, apache (wordpress),
# redis and node are Debian's real programs, started the way the official images start
# them: nginx and apache as root, binding port 80 and switching to their own user;
# redis, node, mysql and mongo as the user the tool sets. MySQL and MongoDB are not in
# Debian: their stand-ins keep the official entrypoints' contract (non-root start,
# NAME or NAME_FILE, the socket and data directories) and answer on their port with node.
# The root filesystem is cached on the host in WELLKNOWN_CACHE (rebuilt when the recipe
# changes); everything else is removed with the other test images.

WELLKNOWN_PACKAGES = ("nodejs", "curl", "apache2", "redis-server", "nginx")
WELLKNOWN_USERS = (
    "node:1000:/home/node,nginx:101:/nonexistent,mysql:999:/var/lib/mysql,mongodb:998:/data/db"
)
WELLKNOWN_CACHE = "/var/cache/dockhard/tool-test"
BASE_SCRIPT = "/usr/local/sbin/dockhard-base-image"  # roles/docker_app: docker_app_base_script

# Ports published by the real-world files, moved off ports the test host may use.
REAL_PORTS = {
    "compose.wordpress.yaml": ("- 80:80", "- 15081:80"),
    "compose.mongo.yaml": ("- 8081:8081", "- 15082:8081"),
    "compose.formatting.yaml": ('"127.0.0.1:8080:80"', '"127.0.0.1:15083:80"'),
}

NGINX_CONF = """\
# As the official image: master as root, workers as nginx, pid and caches where it keeps them.
user nginx;
worker_processes 1;
pid /var/run/nginx.pid;
error_log /dev/stderr notice;
events { worker_connections 64; }
http {
    access_log /dev/stdout;
    client_body_temp_path /var/cache/nginx/client_temp;
    proxy_temp_path /var/cache/nginx/proxy_temp;
    fastcgi_temp_path /var/cache/nginx/fastcgi_temp;
    uwsgi_temp_path /var/cache/nginx/uwsgi_temp;
    scgi_temp_path /var/cache/nginx/scgi_temp;
    server { listen 80; location / { return 200 "ok\\n"; } }
}
"""
NGINX_STANDIN = """\
FROM dhtool-base/wellknown:test
COPY nginx.conf /etc/nginx/nginx.conf
RUN ln -sf /dev/stderr /var/log/nginx/error.log && ln -sf /dev/stdout /var/log/nginx/access.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
"""

REDIS_STANDIN = """\
FROM dhtool-base/wellknown:test
RUN install -d -o redis -g redis -m 0755 /data
WORKDIR /data
EXPOSE 6379
CMD ["redis-server", "--dir", "/data", "--protected-mode", "no", "--logfile", ""]
"""

# The input runs `node server.js`: the app it means is part of its stand-in.
NODE_SERVER = "require('http').createServer((q, r) => r.end('ok')).listen(3000);\n"
NODE_STANDIN = """\
FROM dhtool-base/wellknown:test
COPY server.js /home/node/app/server.js
WORKDIR /home/node/app
CMD ["node"]
"""

# php:apache's layout: logs to the container's output, run and lock directories of
# www-data that the tool mounts tmpfs on, WordPress copied into the volume at start.
WORDPRESS_STANDIN = """\
FROM dhtool-base/wellknown:test
RUN sed -ri -e 's!^(\\s*CustomLog)\\s+\\S+!\\1 /proc/self/fd/1!g' \\
        -e 's!^(\\s*ErrorLog)\\s+\\S+!\\1 /proc/self/fd/2!g' \\
        /etc/apache2/apache2.conf /etc/apache2/conf-available/*.conf \\
        /etc/apache2/sites-available/*.conf \\
    && install -d -o www-data -g www-data -m 0755 /var/run/apache2 /var/lock/apache2 \\
    && rm -f /var/www/html/index.html && chown www-data:www-data /var/www/html \\
    && chmod 1777 /var/www/html && install -d /usr/src/wordpress \\
    && echo 'WordPress stand-in' > /usr/src/wordpress/index.html
COPY --chmod=0755 docker-entrypoint.sh apache2-foreground /usr/local/bin/
WORKDIR /var/www/html
EXPOSE 80
STOPSIGNAL SIGWINCH
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["apache2-foreground"]
"""
WORDPRESS_ENTRYPOINT = """\
#!/bin/sh
# The official entrypoint's contract: root start, WORDPRESS_DB_PASSWORD or its _FILE
# (not both), WordPress copied into /var/www/html and given to www-data.
set -eu
[ "$(id -u)" = 0 ] || { echo "wordpress stand-in: starts as root" >&2; exit 1; }
password=${WORDPRESS_DB_PASSWORD:-}
if [ -n "${WORDPRESS_DB_PASSWORD_FILE:-}" ]; then
    [ -z "$password" ] || { echo "both WORDPRESS_DB_PASSWORD and _FILE are set" >&2; exit 1; }
    password=$(cat "$WORDPRESS_DB_PASSWORD_FILE")
fi
[ -n "$password" ] || { echo "no database password" >&2; exit 1; }
if [ ! -e index.html ]; then
    cp -R /usr/src/wordpress/. .
    chown -R www-data:www-data .
fi
exec "$@"
"""
APACHE_FOREGROUND = """\
#!/bin/sh
set -e
. /etc/apache2/envvars
rm -f /var/run/apache2/apache2.pid
exec apache2 -DFOREGROUND "$@"
"""

# MySQL and MongoDB: the entrypoint's contract, then a TCP listener on their port.
DB_ENTRYPOINT = """\
#!/bin/sh
# usage: db-standin USER PORT RUNDIR DATADIR VARIABLE[,VARIABLE...] [SERVER ARGS...]
# Each VARIABLE may come as VARIABLE or VARIABLE_FILE (not both), as upstream; the
# server's arguments (a compose `command:`) are accepted and not used.
set -eu
user=$1 port=$2 rundir=$3 datadir=$4 variables=$5
[ "$(id -un)" = "$user" ] || { echo "stand-in: start it as $user" >&2; exit 1; }
for name in $(echo "$variables" | tr , ' '); do
    value=$(printenv "$name" || true) file=$(printenv "${name}_FILE" || true)
    if [ -n "$value" ] && [ -n "$file" ]; then
        echo "both $name and ${name}_FILE are set (but are exclusive)" >&2; exit 1
    fi
    if [ -n "$file" ]; then value=$(cat "$file"); fi
    [ -n "$value" ] || { echo "$name is required" >&2; exit 1; }
done
[ -e "$datadir/initialized" ] || date > "$datadir/initialized"
echo $$ > "$rundir/standin.pid"
exec node -e "require('net').createServer((s) => s.end()).listen($port)"
"""
# The health check commands the tool writes for them, answering as the real ones would.
PORT_PROBE = """\
#!/bin/sh
exec node -e "require('net').connect(PORT, '127.0.0.1')\\
.on('connect', () => process.exit(0)).on('error', () => process.exit(1))"
"""
MYSQL_STANDIN = """\
FROM dhtool-base/wellknown:test
# As upstream: the socket directory is 1777, so a tmpfs mounted there (which takes the
# directory's mode) is writable for whatever user mysqld runs as.
RUN install -d -o mysql -g mysql /var/lib/mysql \\
    && install -d -o mysql -g mysql -m 1777 /var/run/mysqld
COPY --chmod=0755 db-standin mysqladmin /usr/local/bin/
EXPOSE 3306
ENTRYPOINT ["db-standin", "mysql", "3306", "/var/run/mysqld", "/var/lib/mysql", \\
    "MYSQL_ROOT_PASSWORD"]
CMD ["mysqld"]
"""
MONGO_STANDIN = """\
FROM dhtool-base/wellknown:test
RUN install -d -o mongodb -g mongodb /data/db /data/configdb
COPY --chmod=0755 db-standin mongosh /usr/local/bin/
VOLUME /data/db /data/configdb
EXPOSE 27017
ENTRYPOINT ["db-standin", "mongodb", "27017", "/tmp", "/data/db", "MONGO_INITDB_ROOT_PASSWORD"]
CMD ["mongod"]
"""
MONGO_EXPRESS_SERVER = """\
const fs = require('fs');
const name = 'ME_CONFIG_MONGODB_ADMINPASSWORD';
const file = process.env[name + '_FILE'];
if (!process.env[name] && !(file && fs.readFileSync(file, 'utf8'))) {
  console.error(name + ' is required'); process.exit(1);
}
require('http').createServer((q, r) => r.end('ok')).listen(8081);
"""
MONGO_EXPRESS_STANDIN = """\
FROM dhtool-base/wellknown:test
COPY server.js /app/server.js
WORKDIR /app
EXPOSE 8081
CMD ["node", "/app/server.js"]
"""

# Image name in the inputs -> stand-in build context.
WELLKNOWN = {
    "nginx:1.27-alpine": {"Dockerfile": NGINX_STANDIN, "nginx.conf": NGINX_CONF},
    "redis:7-alpine": {"Dockerfile": REDIS_STANDIN},
    "node:20-alpine": {"Dockerfile": NODE_STANDIN, "server.js": NODE_SERVER},
    "wordpress:latest": {
        "Dockerfile": WORDPRESS_STANDIN,
        "docker-entrypoint.sh": WORDPRESS_ENTRYPOINT,
        "apache2-foreground": APACHE_FOREGROUND,
    },
    "mysql:8.0": {
        "Dockerfile": MYSQL_STANDIN,
        "db-standin": DB_ENTRYPOINT,
        "mysqladmin": PORT_PROBE.replace("PORT", "3306"),
    },
    "mongo": {
        "Dockerfile": MONGO_STANDIN,
        "db-standin": DB_ENTRYPOINT,
        "mongosh": PORT_PROBE.replace("PORT", "27017"),
    },
    "mongo-express": {"Dockerfile": MONGO_EXPRESS_STANDIN, "server.js": MONGO_EXPRESS_SERVER},
}


# ----------------------------------------------------------------- corpus images to build
# Build contexts for two corpus Dockerfiles (the corpus holds only the Dockerfiles).
FLASK_APP = """\
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return {"status": "ok"}
"""
IMAGES = {
    "debian-slim": {
        "Dockerfile": (CORPUS / "debian-slim.Dockerfile").read_text(),
        "requirements.txt": "flask==3.0.3\ngunicorn==23.0.0\n",
        "app/__init__.py": FLASK_APP,
    },
    "distroless": {
        "Dockerfile": (CORPUS / "distroless-python-nonroot.Dockerfile").read_text(),
        "app.py": FLASK_APP + '\n\nif __name__ == "__main__":\n    app.run("0.0.0.0", 5000)\n',
    },
}
IMAGES_COMPOSE = "".join(f"  {name}:\n    image: dhtool/{name}:test\n" for name in IMAGES)


# ----------------------------------------------------------------- helpers


def docker(host, *argv: str) -> str:
    return run_ok(host, *DOCKER, *argv)


def harden(*paths: Path) -> None:
    """Run the tool as a user would, then check that a second run changes nothing."""
    argv = [sys.executable, str(TOOL), "--no-validate", *map(str, paths)]
    first = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([*argv, "--check"], capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr


def write_tree(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def compose(project: str, folder: str) -> list[str]:
    return [*DOCKER, "compose", "--project-name", project, "--project-directory", folder,
            "--file", f"{folder}/compose.yaml"]  # fmt: skip


def start(host, project: str, folder: str, *extra: str) -> dict[str, dict]:
    """`compose up --wait` (bounded), with the project's logs when it fails."""
    base = compose(project, folder)
    up = host.run(" ".join([*base, "up", "--detach", *extra, "--wait", "--wait-timeout", "300"]))
    if up.rc != 0:
        logs = host.run(" ".join([*base, "logs", "--no-color", "--tail", "20"]))
        health = {
            name: c["State"].get("Health") for name, c in inspect_project(host, project).items()
        }
        pytest.fail(f"{project} did not start healthy: {up.stderr}\n{logs.stdout}\n{health}")
    return inspect_project(host, project)


def inspect_project(host, project: str) -> dict[str, dict]:
    label = f"label=com.docker.compose.project={project}"
    ids = docker(host, "ps", "--all", "--quiet", "--filter", label).split()
    assert ids, f"no container of project {project}"
    inspected = json.loads(docker(host, "container", "inspect", *ids))
    return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in inspected}


def assert_non_root_and_healthy(host, containers: dict[str, dict]) -> None:
    for service, container in containers.items():
        user = (
            container["Config"]["User"]
            or json.loads(docker(host, "image", "inspect", container["Image"]))[0]["Config"]["User"]
        )
        assert user.split(":")[0] not in ("", "0", "root"), f"{service} runs as {user!r}"
        uid = docker(host, "exec", container["Id"], "id", "-u").strip()
        assert uid != "0", f"{service}: process uid {uid}"
        assert container["State"]["Health"]["Status"] == "healthy", service
        assert container["HostConfig"]["ReadonlyRootfs"] is True, service
        assert container["HostConfig"]["CapDrop"] == ["ALL"], service


def build(host, tag: str, context: str, legacy: bool = False) -> None:
    env = ["env", "DOCKER_BUILDKIT=0"] if legacy else []
    run_ok(host, *env, *DOCKER, "build", "--quiet", "--label", LABEL, "--tag", tag, context)


def remove_test_images(host) -> None:
    """Every image with LABEL, children before parents (a few rounds at most)."""
    for _ in range(5):
        ids = docker(host, "image", "ls", "--all", "--quiet", "--filter", f"label={LABEL}")
        if not ids.split():
            return
        for image in dict.fromkeys(ids.split()):
            host.run(" ".join([*DOCKER, "image", "rm", "--force", image]))
    assert not docker(host, "image", "ls", "--all", "--quiet", "--filter", f"label={LABEL}")


def take_down(host, project: str, folder: str) -> None:
    argv = [*compose(project, folder), "down", "--volumes", "--rmi", "local", "--timeout", "10"]
    host.run(" ".join(argv))


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def compose_v2(host) -> None:
    """The app is deployed, so Compose v2 and buildx must be there."""
    docker(host, "compose", "version")
    docker(host, "buildx", "version")


@pytest.fixture(scope="module")
def bases(host, compose_v2):
    """The root filesystems of roles/docker_app imported as images, for the stand-ins."""
    # The three imports run side by side; each must succeed.
    script = f"""
set -eu
pids=
for root in builder runtime db; do
    tar=$(ls -t {BASE_CACHE}/$root-*.tar | head -n 1)
    [ -n "$tar" ] || {{ echo "no $root root filesystem in {BASE_CACHE}" >&2; exit 1; }}
    {" ".join(DOCKER)} import --change "LABEL {LABEL}" "$tar" "dhtool-base/$root:test" >/dev/null &
    pids="$pids $!"
done
for pid in $pids; do wait "$pid"; done
"""
    run_ok(host, "sh", "-c", script)
    yield
    remove_test_images(host)


@pytest.fixture(scope="module")
def wheelhouse(host, bases) -> Path:
    """Wheels of the inputs' Python packages for the stand-ins' Python, downloaded here."""
    version = docker(
        host, "run", "--rm", "--network", "none", "dhtool-base/builder:test", "python3", "-c",
        "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')",
    ).strip()  # fmt: skip
    platform = f"manylinux2014_{run_ok(host, 'uname', '-m').strip()}"
    key = hashlib.sha256(f"{WHEELS} {version} {platform}".encode()).hexdigest()[:12]
    cache = Path.home() / ".cache" / "dockhard" / "wheelhouse" / f"tool-test-{key}"
    if not (cache / ".complete").exists():
        cache.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
                "--only-binary=:all:", "--python-version", version, "--implementation", "cp",
                "--platform", platform, "--dest", str(cache), *WHEELS]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        (cache / ".complete").write_text("\n".join(WHEELS) + "\n")
    return cache


@pytest.fixture(scope="module")
def workspace(host, wheelhouse, tmp_path_factory) -> str:
    """The inputs, hardened by the tool on the controller, unpacked on the host at WORK."""
    local = tmp_path_factory.mktemp("tool-on-host")
    tree = local / "tree"
    # The whole corpus, hardened: for `docker compose config`.
    shutil.copytree(CORPUS, tree / "corpus")
    harden(tree / "corpus")
    # The original exercise, on a free host port (see EXERCISE_PORT), hardened.
    exercise = tree / "exercise"
    shutil.copytree(ORIGINAL, exercise)
    text = (exercise / "compose.yaml").read_text()
    assert text.count('"15000:5000"') == 1
    (exercise / "compose.yaml").write_text(text.replace('"15000:5000"', f'"{EXERCISE_PORT}:5000"'))
    harden(exercise)
    # Two corpus Dockerfiles with a small app each, and a compose file to run them.
    for name, files in IMAGES.items():
        write_tree(tree / "images" / name, files)
    (tree / "images" / "compose.yaml").write_text(f"services:\n{IMAGES_COMPOSE}")
    harden(tree / "images")
    # The real-world compose files of well-known images, on free ports, hardened.
    shutil.copytree(REAL, tree / "real", ignore=shutil.ignore_patterns("expected"))
    for name, (old, new) in REAL_PORTS.items():
        text = (tree / "real" / name).read_text()
        assert text.count(old) == 1, name
        (tree / "real" / name).write_text(text.replace(old, new))
    for name in REAL_PORTS:
        project = tree / "real" / name.split(".")[1]
        project.mkdir()
        shutil.move(tree / "real" / name, project / "compose.yaml")
        harden(project)
    # The stand-ins' build contexts (not hardened: they stand for upstream images).
    for name, files in STANDIN_FILES.items():
        write_tree(tree / "standins" / name, files)
    for ref, files in WELLKNOWN.items():
        write_tree(tree / "wellknown" / ref.replace(":", "_"), files)
    shutil.copytree(wheelhouse, tree / "standins" / "python" / "wheelhouse")
    bundle = local / "bundle.tar"
    with tarfile.open(bundle, "w") as tar:
        tar.add(tree, arcname=".")
    run_ok(host, "rm", "-rf", WORK)
    run_ok(host, "mkdir", "-m", "0700", WORK)
    copied = host.ansible(
        "ansible.builtin.copy", f"src={bundle} dest={WORK}.tar mode=0600", check=False
    )
    assert not copied.get("failed"), copied
    run_ok(host, "tar", "--no-same-owner", "-C", WORK, "-xf", f"{WORK}.tar")
    yield WORK
    run_ok(host, "rm", "-rf", WORK, f"{WORK}.tar")


@pytest.fixture(scope="module")
def standins(host, workspace):
    """Stand-ins for the upstream images under their names; removed afterwards."""
    made: list[str] = []
    present = {
        ref for ref in STANDINS if host.run(" ".join([*DOCKER, "image", "inspect", ref])).rc == 0
    }
    if present != set(STANDINS):
        script = (
            'set -e; cd "$1"; apt-get download busybox-static >/dev/null 2>&1 '
            "|| (apt-get update -qq && apt-get download busybox-static >/dev/null); "
            "dpkg-deb -x busybox-static_*.deb root; rm busybox-static_*.deb; "
            "cp root/usr/bin/busybox . 2>/dev/null || cp root/bin/busybox .; rm -rf root"
        )
        run_ok(host, "sh", "-c", script, "sh", f"{workspace}/standins/alpine")
        build(host, "dhtool-standin/python:test", f"{workspace}/standins/python")
        made.append("dhtool-standin/python:test")
    for ref, context in STANDINS.items():
        if ref in present:
            continue
        if context == "python":
            docker(host, "tag", "dhtool-standin/python:test", ref)
        else:
            build(host, ref, f"{workspace}/standins/{context}")
        made.append(ref)
    yield
    # Children first: a stand-in built FROM another one keeps it otherwise.
    for ref in reversed(made):
        host.run(" ".join([*DOCKER, "image", "rm", ref]))


@pytest.fixture(scope="module")
def wellknown_standins(host, workspace):
    """The well-known images' stand-ins under their names; removed afterwards."""
    recipe = " ".join((*WELLKNOWN_PACKAGES, WELLKNOWN_USERS, BASE_SCRIPT))
    tar = f"{WELLKNOWN_CACHE}/wellknown-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}.tar"
    if host.run(f"test -s {tar}").rc != 0:
        run_ok(host, BASE_SCRIPT, tar, "no", WELLKNOWN_USERS, *WELLKNOWN_PACKAGES)
    docker(host, "import", "--change", f"LABEL {LABEL}", tar, "dhtool-base/wellknown:test")
    made = []
    for ref in WELLKNOWN:
        if host.run(" ".join([*DOCKER, "image", "inspect", ref])).rc == 0:
            continue  # a real image of that name is used as it is
        build(host, ref, f"{workspace}/wellknown/{ref.replace(':', '_')}")
        made.append(ref)
    yield
    for ref in made:
        host.run(" ".join([*DOCKER, "image", "rm", ref]))
    host.run(" ".join([*DOCKER, "image", "rm", "dhtool-base/wellknown:test"]))


@pytest.fixture(scope="module")
def images_stack(host, workspace, standins):
    """The two hardened corpus images, built, started with the hardened compose file."""
    folder = f"{workspace}/images"
    for name in IMAGES:
        # The legacy builder ignores `# syntax=docker/dockerfile:1`, whose frontend image
        # BuildKit would pull from a registry.
        build(host, f"dhtool/{name}:test", f"{folder}/{name}", legacy=True)
    try:
        yield start(host, "dhtool-images", folder)
    finally:
        take_down(host, "dhtool-images", folder)
        host.run(" ".join([*DOCKER, "image", "rm", *(f"dhtool/{n}:test" for n in IMAGES)]))


@pytest.fixture(scope="module")
def exercise_stack(host, workspace, standins):
    folder = f"{workspace}/exercise"
    try:
        yield start(host, "dhtool-exercise", folder, "--build")
    finally:
        take_down(host, "dhtool-exercise", folder)


# ----------------------------------------------------------------- tests


def test_docker_compose_config_accepts_every_hardened_compose_file(host, workspace):
    files = sorted(p for p in CORPUS.rglob("*") if dsf.kind_of(p) == "compose")
    assert len(files) >= 5
    for path in files:
        name = f"{workspace}/corpus/{path.relative_to(CORPUS)}"
        argv = ["env", *CORPUS_VARIABLES, *DOCKER[1:], "compose", "--file", name, "config"]
        config = json.loads(run_ok(host, *argv, "--format", "json"))
        for service, spec in config["services"].items():
            assert spec.get("read_only") is True, f"{name}: {service} is not read-only"
            assert "ALL" in spec.get("cap_drop", []), f"{name}: {service} keeps capabilities"
            for port in spec.get("ports", []):
                if port.get("published") != VARIABLE_PORT:
                    assert port.get("host_ip") in ("127.0.0.1", "::1"), f"{name}: {port}"


def test_hardened_corpus_images_run_as_non_root_and_turn_healthy(host, images_stack):
    assert sorted(images_stack) == sorted(IMAGES)
    assert_non_root_and_healthy(host, images_stack)
    for name, container in images_stack.items():
        image = json.loads(docker(host, "image", "inspect", container["Image"]))[0]
        # The HEALTHCHECK the tool added runs python3 (neither image has curl or wget).
        assert image["Config"]["Healthcheck"]["Test"][:2] == ["CMD", "python3"], name


def test_original_exercise_hardened_by_the_tool_starts_healthy(host, exercise_stack):
    assert sorted(exercise_stack) == ["db", "web"]
    assert_non_root_and_healthy(host, exercise_stack)
    web, db = exercise_stack["web"], exercise_stack["db"]
    bindings = web["HostConfig"]["PortBindings"]["5000/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": EXERCISE_PORT}]
    assert db["Config"]["User"] == "postgres"
    assert not [e for e in db["Config"]["Env"] if e.startswith("POSTGRES_PASSWORD=")]
    assert "POSTGRES_PASSWORD_FILE=/run/secrets/db_postgres_password" in db["Config"]["Env"]
    # The published port answers on loopback (the trap: Flask bound to 127.0.0.1 in the
    # container would not); the app is the original one, unchanged.
    fetch = (
        "import urllib.request; print(urllib.request.build_opener(urllib.request.ProxyHandler({}))"
        f".open('http://127.0.0.1:{EXERCISE_PORT}/?name=bob', timeout=20).read().decode())"
    )
    assert run_ok(host, "python3", "-c", fetch).strip() == "Hello, bob!"
    # The secret the tool moved to ./secrets stays out of the web image (.dockerignore).
    listing = docker(host, "run", "--rm", "--network", "none", "--entrypoint", "ls",
                     web["Image"], "-a", "/app")  # fmt: skip
    assert "app.py" in listing.split() and "secrets" not in listing.split()


# Per image: the capabilities the tool adds, and the user its main process ends up as.
RUNS_AS = {
    "nginx:1.27-alpine": "nginx",
    "wordpress:latest": "www-data",
    "redis:7-alpine": "redis",
    "node:20-alpine": "node",
    "mysql:8.0": "mysql",
    "mongo": "mongodb",
    "mongo-express": "node",
}


@pytest.mark.parametrize("project", sorted(n.split(".")[1] for n in REAL_PORTS))
def test_hardened_well_known_images_start_healthy(host, workspace, wellknown_standins, project):
    """The compose files the tool writes for well-known images start, read-only, ALL dropped."""
    folder = f"{workspace}/real/{project}"
    try:
        containers = start(host, f"dhtool-{project}", folder)
        for service, container in containers.items():
            image = container["Config"]["Image"]
            needs = image_needs.needs_of(dsf.split_image(image)[1])
            assert needs.known, f"{image} is not in the image table"
            assert container["State"]["Health"]["Status"] == "healthy", service
            assert container["HostConfig"]["ReadonlyRootfs"] is True, service
            assert container["HostConfig"]["CapDrop"] == ["ALL"], service
            assert sorted(container["HostConfig"]["CapAdd"] or []) == sorted(needs.cap_add)
            first, children = process_users(host, container["Id"])
            if needs.cap_add:  # starts as root, its workers run as its own user
                assert first == "root" and children == {RUNS_AS[image]}, (service, children)
            else:  # non-root from the first process on
                assert first == RUNS_AS[image] and children <= {RUNS_AS[image]}, service
    finally:
        take_down(host, f"dhtool-{project}", folder)


def process_users(host, container: str) -> tuple[str, set[str]]:
    """The user of the container's PID 1 and of its children, as the container names them."""
    script = (
        "stat -c %U /proc/1; for d in /proc/[0-9]*; do "
        '[ "$(cut -d" " -f4 "$d/stat" 2>/dev/null)" = 1 ] && stat -c %U "$d"; done; true'
    )
    users = docker(host, "exec", container, "sh", "-c", script).split()
    return users[0], set(users[1:])


def test_docker_compose_config_accepts_the_hardened_real_world_files(host, workspace):
    for name in REAL_PORTS:
        project = name.split(".")[1]
        argv = [*compose(f"dhtool-{project}", f"{workspace}/real/{project}"), "config"]
        config = json.loads(run_ok(host, *argv, "--format", "json"))
        assert config["services"], name
        for service, spec in config["services"].items():
            assert spec.get("read_only") is True, f"{name}: {service}"
            assert spec.get("cap_drop") == ["ALL"], f"{name}: {service}"
