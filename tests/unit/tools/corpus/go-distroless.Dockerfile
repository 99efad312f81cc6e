# Build in golang, ship on distroless static: the builder stage is left alone.
FROM golang:1.22 AS build
WORKDIR /src
ADD go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/api ./cmd/api

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/api /api
EXPOSE 9090
ENTRYPOINT ["/api"]
