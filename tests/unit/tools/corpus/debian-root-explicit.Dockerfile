FROM debian:12
RUN apt-get update && apt-get install -y --no-install-recommends wget
USER root
EXPOSE 8081
CMD ["/usr/bin/serve"]
