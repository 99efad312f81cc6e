-- dockhard: schema of the web app's audit trail and its least-privilege role.
--
-- Run with psql as a superuser (or the database owner), connected to the app
-- database (dockhard), e.g. from the database container's init step:
--   psql -X -v ON_ERROR_STOP=1 --dbname dockhard -f init.sql
-- Idempotent: safe to run again. It contains no password: the role is created
-- without one (so it cannot log in with password authentication) and
-- 10-app-role.sh sets the password from the Docker secret afterwards (the two
-- files can run in either order; both create the role if it is missing).

\set ON_ERROR_STOP on
SET client_min_messages = warning;

BEGIN;

-- The app's role: may log in, owns nothing, can do nothing but what is granted below.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'dockhard_app') THEN
        CREATE ROLE dockhard_app LOGIN;
    END IF;
END
$$;
ALTER ROLE dockhard_app
    LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT
    CONNECTION LIMIT 20;
ALTER ROLE dockhard_app SET search_path = public;
ALTER ROLE dockhard_app SET statement_timeout = '5s';
ALTER ROLE dockhard_app SET idle_in_transaction_session_timeout = '30s';

-- Nobody but the owner and the app may connect; nobody may create objects in public.
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO dockhard_app', current_database());
END
$$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO dockhard_app;

CREATE TABLE IF NOT EXISTS public.request_audit (
    id          bigserial   PRIMARY KEY,
    ts          timestamptz NOT NULL DEFAULT now(),
    method      text        NOT NULL CHECK (char_length(method) <= 16),
    endpoint    text        NOT NULL CHECK (char_length(endpoint) <= 256),
    client      inet,
    status      smallint    NOT NULL CHECK (status BETWEEN 100 AND 599),
    duration_ms integer     CHECK (duration_ms >= 0)
);
CREATE INDEX IF NOT EXISTS request_audit_ts_idx ON public.request_audit (ts);

COMMENT ON TABLE public.request_audit IS
    'One row per HTTP request served by the dockhard web app (no query strings, no secrets).';

-- Least privilege: append and read the audit trail, nothing else (no UPDATE,
-- DELETE or TRUNCATE, so the app cannot rewrite its own history).
REVOKE ALL ON TABLE public.request_audit FROM PUBLIC;
REVOKE ALL ON SEQUENCE public.request_audit_id_seq FROM PUBLIC;
REVOKE ALL ON TABLE public.request_audit FROM dockhard_app;
REVOKE ALL ON SEQUENCE public.request_audit_id_seq FROM dockhard_app;
GRANT SELECT, INSERT ON TABLE public.request_audit TO dockhard_app;
GRANT USAGE ON SEQUENCE public.request_audit_id_seq TO dockhard_app;

COMMIT;
