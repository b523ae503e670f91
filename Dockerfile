# influxdb-proxy on Debian 12: build stage with the -dev packages, runtime stage with the libraries only.
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config meson ninja-build \
      libh2o-evloop-dev libssl-dev libhiredis-dev libcurl4-openssl-dev libpcre2-dev libjansson-dev zlib1g-dev \
      libcmocka-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --buildtype=release && ninja -C /build proxy/influxdb-proxy

FROM debian:12
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libh2o-evloop0.13 libssl3 libhiredis0.14 libcurl4 libpcre2-8-0 libjansson4 zlib1g ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/influxdb-proxy influxdb-proxy \
    && mkdir -p /var/lib/influxdb-proxy && chown influxdb-proxy /var/lib/influxdb-proxy
COPY --from=build /build/proxy/influxdb-proxy /usr/bin/influxdb-proxy
USER influxdb-proxy
WORKDIR /var/lib/influxdb-proxy
VOLUME /var/lib/influxdb-proxy
EXPOSE 6666
ENTRYPOINT ["/usr/bin/influxdb-proxy"]
CMD ["-redis", "127.0.0.1:6379", "-node", "l1"]
