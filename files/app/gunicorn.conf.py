"""Gunicorn settings for the dockhard web app: ``gunicorn -c gunicorn.conf.py``.

Environment (all optional):
  WEBAPP_BIND       HOST:PORT or unix:PATH     (0.0.0.0:8000; inside the container:
                    restrict exposure on the host side, not here)
  WEBAPP_WORKERS    worker processes           (2)
  WEBAPP_THREADS    threads per worker         (4)
  WEBAPP_UMASK      umask, octal; sets the mode of a unix socket (007: socket 0770)
  WEBAPP_LOG_LEVEL  gunicorn and app log level (info)
  WEBAPP_ACCESS_LOG "-" for an access log on stdout (off: nginx logs every request
                    at the edge and the app writes an audit row for each)
"""

from __future__ import annotations

import os

_HERE = os.path.dirname(os.path.abspath(__file__))

wsgi_app = "webapp.wsgi:app"
chdir = _HERE
pythonpath = _HERE

bind = [os.environ.get("WEBAPP_BIND", "0.0.0.0:8000")]
workers = int(os.environ.get("WEBAPP_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEBAPP_THREADS", "4"))
umask = int(os.environ.get("WEBAPP_UMASK", "007"), 8)

# Timeouts: a ping takes at most ~5 s, the audit insert is bounded by its own timeouts.
timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 100_000
max_requests_jitter = 10_000

# HTTP parsing limits, above nginx's (request line 4 KiB, header lines 4 KiB,
# headers 16 KiB in all), so that every over-long request is refused by nginx or
# the app with JSON, never by gunicorn with its plain-text page; they still bound
# a client of the socket that is not nginx. The request line limit stays above the
# app's own 2 KiB query-string limit so that the app answers those with JSON.
limit_request_line = 8190
limit_request_fields = 4096
limit_request_field_size = 8190

# Never a development server: no reload, no code tracing, no daemonising.
reload = False
spew = False
daemon = False
preload_app = False
check_config = False

# Read-only root filesystem: heartbeat files in /dev/shm, no control socket
# (gunicorn >= 25 would otherwise create one under $HOME).
worker_tmp_dir = "/dev/shm"  # noqa: S108 - a tmpfs, for heartbeat files only
control_socket_disable = True

# Logs to stdout/stderr (collected by the Docker log driver). No access log by
# default: a third record of each request (after nginx's and the audit row) cost a
# quarter of a worker's time under load. When enabled, it records the path without
# the query string (%(U)s, not %(r)s), no referer and no headers, so nothing a
# client put in a URL or a header ends up in the log.
accesslog = os.environ.get("WEBAPP_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("WEBAPP_LOG_LEVEL", "info")
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
capture_output = False

proc_name = "dockhard-webapp"
