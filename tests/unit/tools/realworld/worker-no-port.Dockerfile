FROM python:3.12-slim
WORKDIR /app
COPY worker.py .
CMD ["python3", "worker.py"]
