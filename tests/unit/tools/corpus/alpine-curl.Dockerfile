FROM alpine:3.20
RUN apk add --no-cache curl ca-certificates
COPY server /usr/local/bin/server
EXPOSE 8080/tcp
ENTRYPOINT ["/usr/local/bin/server"]
