"""What well-known official images need to start hardened (read by compose.py).

One entry per image name (the last path component of the reference, so `library/mongo`
and `docker.io/mongo` are both `mongo`). tools/README.md shows this table; a unit test
keeps the two in step. An image not listed gets the generic treatment (tmpfs /tmp only,
no capabilities, no user) and the tool says what it could not know.

Fields:
- tmpfs: paths the image writes at run time, mounted as tmpfs under `read_only: true`.
- data_dir: where it keeps its data: a named volume is added when nothing is mounted there.
- user: the non-root user its entrypoint supports starting as (CIS 4.1, 5.4).
- cap_add: capabilities it needs after `cap_drop: [ALL]`, because it starts as root and
  drops privileges itself (chown of its data, then setuid/setgid to its own user), or
  binds a port below 1024.
- healthcheck: a test command that uses a client the image ships; node_probe: none fixed,
  a TCP connect by node itself to the port the service publishes or exposes.
- file_env: the variables its entrypoint also reads from a file as NAME_FILE; an entry
  ending in "_" is a prefix (every POSTGRES_* variable).
"""

from __future__ import annotations

from dataclasses import dataclass

CONTAINER_TMP = "/tmp"  # noqa: S108 - a path inside the container
ROOT_START_CAPS = ("CHOWN", "SETGID", "SETUID")


@dataclass(frozen=True)
class Family:
    tmpfs: tuple[str, ...] = (CONTAINER_TMP,)
    data_dir: str | None = None
    user: str | None = None
    cap_add: tuple[str, ...] = ()
    healthcheck: tuple[str, ...] = ()
    file_env: tuple[str, ...] = ()
    node_probe: bool = False  # no fixed port: probe the service's port with node

    @property
    def known(self) -> bool:
        return self != UNKNOWN

    def reads_file(self, name: str) -> bool:
        """True when the image also reads NAME from NAME_FILE."""
        return any(name == e or (e.endswith("_") and name.startswith(e)) for e in self.file_env)


UNKNOWN = Family()

PG_READY = 'pg_isready -h 127.0.0.1 -U "$${POSTGRES_USER:-postgres}" -d postgres || exit 1'
# mongosh since 6.0, the legacy mongo shell before.
MONGO_PING = (
    "mongosh --quiet --eval 'db.adminCommand({ping: 1})' >/dev/null"
    " || mongo --quiet --eval 'db.adminCommand({ping: 1})' >/dev/null"
)


def node_tcp_check(port: int) -> tuple[str, ...]:
    """A TCP connect with node itself: no curl or wget needed, and no HTTP auth in the way."""
    script = (
        f"require('net').connect({port}, '127.0.0.1')"
        ".on('connect', () => process.exit(0)).on('error', () => process.exit(1))"
    )
    return ("CMD", "node", "-e", script)


def curl_check(url: str) -> tuple[str, ...]:
    return ("CMD", "curl", "-fsS", "-o", "/dev/null", url)


MYSQL = Family(
    tmpfs=("/var/run/mysqld", CONTAINER_TMP),
    data_dir="/var/lib/mysql",
    user="mysql",
    healthcheck=("CMD", "mysqladmin", "ping", "-h", "127.0.0.1", "--silent"),
    file_env=("MYSQL_",),
)

IMAGES: dict[str, Family] = {
    "postgres": Family(
        tmpfs=("/var/run/postgresql", CONTAINER_TMP),
        data_dir="/var/lib/postgresql/data",
        user="postgres",
        healthcheck=("CMD-SHELL", PG_READY),
        file_env=("POSTGRES_",),
    ),
    "mysql": MYSQL,
    "mariadb": Family(
        tmpfs=MYSQL.tmpfs,
        data_dir=MYSQL.data_dir,
        user="mysql",
        healthcheck=("CMD", "healthcheck.sh", "--connect", "--innodb_initialized"),
        file_env=("MARIADB_", "MYSQL_"),
    ),
    "redis": Family(data_dir="/data", user="redis", healthcheck=("CMD", "redis-cli", "ping")),
    "mongo": Family(
        data_dir="/data/db",
        user="mongodb",
        healthcheck=("CMD-SHELL", MONGO_PING),
        file_env=("MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"),
    ),
    "mongo-express": Family(
        user="node",
        healthcheck=node_tcp_check(8081),
        file_env=(
            "ME_CONFIG_BASICAUTH_USERNAME",
            "ME_CONFIG_BASICAUTH_PASSWORD",
            "ME_CONFIG_MONGODB_ADMINUSERNAME",
            "ME_CONFIG_MONGODB_ADMINPASSWORD",
            "ME_CONFIG_MONGODB_AUTH_USERNAME",
            "ME_CONFIG_MONGODB_AUTH_PASSWORD",
        ),
    ),
    "nginx": Family(
        tmpfs=("/var/cache/nginx", "/var/run", CONTAINER_TMP),
        cap_add=(*ROOT_START_CAPS, "NET_BIND_SERVICE"),
        healthcheck=curl_check("http://127.0.0.1/"),
    ),
    "httpd": Family(
        tmpfs=("/usr/local/apache2/logs", CONTAINER_TMP),
        cap_add=(*ROOT_START_CAPS, "NET_BIND_SERVICE"),
    ),
    # php:apache underneath: apache starts as root on port 80 and runs as www-data; the
    # entrypoint copies WordPress into /var/www/html on the first start.
    "wordpress": Family(
        tmpfs=("/var/run/apache2", "/var/lock/apache2", CONTAINER_TMP),
        data_dir="/var/www/html",
        cap_add=(*ROOT_START_CAPS, "NET_BIND_SERVICE"),
        healthcheck=curl_check("http://127.0.0.1/"),
        file_env=("WORDPRESS_",),
    ),
    "node": Family(tmpfs=("/home/node/.npm", CONTAINER_TMP), user="node", node_probe=True),
}


def needs_of(name: str) -> Family:
    return IMAGES.get(name, UNKNOWN)
