# syntax=docker/dockerfile:1
# gatewatch: one image for every role. The command names the role:
#   docker run … gatewatch:0.1.0 gateway | collector | alerter | reports | dashboards | migrate
# or `up` (the default) for every role in one process. deploy/compose.yaml runs each role as
# its own service; the README's Production section says how to size and run them.
#
# Build (from the repository's root): docker build -t gatewatch:0.1.0 .

# Stage 1: the release binary, built with the locked dependency set on Debian bookworm (the
# runtime's release, so glibc matches). The toolchain is the one the project is tested with.
ARG RUST_VERSION=1.95.0
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target caches survive between builds (BuildKit); the binary is copied out of
# the cache mount because a cache mount is not part of the stage's filesystem.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin gatewatch \
 && install -m 0755 target/release/gatewatch /usr/local/bin/gatewatch

# Stage 2: the runtime. ca-certificates: https upstreams, ClickHouse over https, LINE,
# webhooks and SMTP trust the system's roots. fonts-noto-cjk: report charts draw Chinese API
# names (the chart code looks for /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc first).
# curl: the HEALTHCHECK below.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates fonts-noto-cjk curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 gatewatch \
 && useradd --system --uid 10001 --gid gatewatch --home-dir /var/lib/gatewatch \
      --no-create-home --shell /usr/sbin/nologin gatewatch \
 && install -d -o gatewatch -g gatewatch -m 0700 /var/lib/gatewatch \
 && install -d -m 0755 /etc/gatewatch
COPY --from=build /usr/local/bin/gatewatch /usr/local/bin/gatewatch
# A configuration for containers: every role listens on all interfaces at its default port,
# data_dir is the volume, the pepper comes from a mounted secret (never from the image).
# Mount your own file over it, or point GATEWATCH_CONFIG elsewhere.
COPY deploy/docker/gatewatch.toml /etc/gatewatch/gatewatch.toml
ENV GATEWATCH_CONFIG=/etc/gatewatch/gatewatch.toml \
    GATEWATCH_HEALTH_PORT=8081
# WAL (collector), spool and snapshot (gateway), the alerter's snapshot. Transient, but it holds
# records not yet in ClickHouse: keep it on a volume that outlives the container.
VOLUME ["/var/lib/gatewatch"]
WORKDIR /var/lib/gatewatch
# gateway 8080 (proxy) and 8081 (its /healthz, /readyz, /metrics); dashboards 8090; collector
# 8091; alerter 8092; reports 8093; developer portal 8094 (the defaults of src/config.rs).
EXPOSE 8080 8081 8090 8091 8092 8093 8094
USER 10001:10001
# GATEWATCH_HEALTH_PORT: the port of the role this container runs (8081 for the gateway and for
# `up`; 8091 collector, 8090 dashboards, 8092 alerter, 8093 reports). /healthz is liveness;
# orchestrators should use /readyz for readiness (deploy/compose.yaml, deploy/k8s/).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${GATEWATCH_HEALTH_PORT}/healthz" || exit 1
ENTRYPOINT ["gatewatch"]
CMD ["up"]
