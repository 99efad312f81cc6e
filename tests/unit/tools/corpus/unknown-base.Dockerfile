FROM registry.example.com/platform/base-image:2024.1
ENV SECRET_KEY_BASE=abc123
COPY app /app
CMD ["/app/run"]
