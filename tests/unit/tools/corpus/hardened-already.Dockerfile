FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*
# Remote and archive sources need ADD: left, reported.
ADD https://example.com/tool.tar.gz /opt/
ADD rootfs.tar.gz /
RUN useradd --system --uid 10001 svc
USER svc
HEALTHCHECK --interval=10s CMD curl -fsS http://127.0.0.1:8080/health || exit 1
EXPOSE 8080
CMD ["/opt/tool/run"]
