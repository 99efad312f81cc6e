# syntax=docker/dockerfile:1
# A Flask API on Debian slim: no USER, no HEALTHCHECK, ADD for local files.
FROM python:3.12-slim

ENV API_TOKEN=changeme \
    APP_HOME=/srv/app
ARG DB_PASSWORD
WORKDIR /srv/app
ADD requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
ADD --chown=root:root app/ ./app/
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]
