FROM ubuntu:24.04
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx curl \
 && useradd -r -s /usr/sbin/nologin web
COPY site/ /var/www/html/
EXPOSE 80
CMD ["nginx", "-g", "daemon off;"]
