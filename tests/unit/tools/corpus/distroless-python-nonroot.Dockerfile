FROM python:3.11-slim AS build
RUN pip install --target=/deps flask==3.0.3

FROM gcr.io/distroless/python3-debian12:nonroot
COPY --from=build /deps /deps
COPY app.py /app/app.py
ENV PYTHONPATH=/deps
EXPOSE 5000
CMD ["/app/app.py"]
