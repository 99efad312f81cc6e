#!/bin/sh
# dockhard: set the password of the app's database role from a Docker secret.
#
# Run inside the database container while the server is up (for example from
# its init step, next to init.sql), as a user that can connect as a superuser
# over the local socket. psql honours PGHOST/PGPORT if they are set.
#
# The password never appears in a process list, an environment variable, the
# shell or a log:
#   - this script never reads it: psql reads the file itself (backquote of
#     `cat FILE` inside psql; only the file *path* is on a command line);
#   - the SQL comes on stdin, not in argv;
#   - the session turns statement logging off before ALTER ROLE, and terse
#     error verbosity keeps a failing statement's text out of psql's output;
#   - the server stores only the SCRAM-SHA-256 verifier.
#
# Environment (all optional):
#   DB_APP_PASSWORD_FILE  secret file, one line   (/run/secrets/db_app_password)
#   DB_APP_USER           role to set             (dockhard_app)
#   POSTGRES_DB           database                (dockhard)
#   POSTGRES_USER         superuser to connect as (postgres)
set -eu

pwfile="${DB_APP_PASSWORD_FILE:-/run/secrets/db_app_password}"
role="${DB_APP_USER:-dockhard_app}"
database="${POSTGRES_DB:-dockhard}"
superuser="${POSTGRES_USER:-postgres}"

fail() {
    echo "10-app-role.sh: $*" >&2
    exit 1
}

[ -f "$pwfile" ] && [ -r "$pwfile" ] || fail "password file $pwfile is missing or unreadable"
[ -s "$pwfile" ] || fail "password file $pwfile is empty"
# One line: at most the trailing newline, which psql's backquote strips.
[ "$(wc -l < "$pwfile")" -le 1 ] || fail "password file $pwfile must hold a single line"
grep -q . "$pwfile" || fail "password file $pwfile holds an empty password"
if grep -q "$(printf '\r')" "$pwfile"; then
    fail "password file $pwfile must not contain a carriage return"
fi

psql -X -q --no-password -v ON_ERROR_STOP=1 \
    --username "$superuser" --dbname "$database" \
    -v app_role="$role" -v pwfile="$pwfile" <<'SQL'
\set VERBOSITY terse
\set ECHO none
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_error_statement = 'panic';
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I LOGIN', :'app_role')
    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = :'app_role')
\gexec
\set app_password `cat -- :'pwfile'`
ALTER ROLE :"app_role" WITH LOGIN PASSWORD :'app_password';
\unset app_password
SQL
echo "10-app-role.sh: password of role $role set from $pwfile"
