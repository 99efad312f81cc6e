# syntax=docker/dockerfile:1
FROM alpine:3.20
RUN <<EOF
set -eu
apk add --no-cache python3 py3-flask
mkdir -p /app
EOF
COPY <<EOF /app/app.py
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return {"status": "ok"}
EOF
WORKDIR /app
EXPOSE 8080
CMD ["flask", "--app", "app", "run", "--host", "0.0.0.0", "--port", "8080"]
