# syntax=docker/dockerfile:1
FROM alpine:3.20
RUN <<EOF
set -eu
apk add --no-cache python3 py3-flask
addgroup -S -g 10001 app
adduser -S -D -H -u 10001 -G app app
EOF
COPY <<EOF /app/app.py
from flask import Flask

app = Flask(__name__)
EOF
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
CMD ["flask", "--app", "/app/app.py", "run", "--host", "0.0.0.0", "--port", "8080"]
