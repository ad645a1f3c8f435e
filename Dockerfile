# Dockerfile - subsetter in a container: built on Debian bookworm, run on bookworm-slim
# with only the runtime libraries.
#
#   docker build -t subsetter:local .
#   docker run --rm --init -e FIFTYONE_DATABASE_URI=mongodb://db.example.org:27017/ \
#     -v "$PWD/media:/data/media" -v "$PWD/exports:/data/exports" subsetter:local
#
# docker-compose.yml does the same with .env, the job folder, a stop grace period and an
# optional MongoDB (profile db). The image has no mongod: FIFTYONE_DATABASE_URI must name
# a server (without it, every command stops with exit 11).
#
# tests/integration/test_compose.py checks this file without Docker: two stages on
# bookworm-slim, a non-root USER, the HEALTHCHECK, the ENTRYPOINT, and that every library
# the binary links comes from a package of the runtime stage's apt-get line.

# --- build ------------------------------------------------------------------------------
FROM debian:bookworm-slim AS build
# The -dev packages of scripts/setup's list; the schemas are embedded by a CMake script
# (cmake/embed.cmake), so no Python or other generator is needed.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libmongoc-dev libbson-dev libcurl4-openssl-dev libssl-dev \
      libjpeg62-turbo-dev libturbojpeg0-dev libyaml-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole context (see .dockerignore): CMakeLists.txt refers to files outside service/.
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSUB_TESTS=OFF \
 && cmake --build build -j"$(nproc)" \
 && install -D -m 0755 -s build/subsetter /out/subsetter \
 && /out/subsetter --version

# --- runtime ----------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# One package per library the binary links (libmongoc, libbson, libcurl, libcrypto,
# libyaml, libturbojpeg; libc and libm are in the base image), and the CA bundle for
# HTTPS downloads and for MongoDB TLS without a tlsCAFile.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmongoc-1.0-0 libbson-1.0-0 libcurl4 libssl3 libyaml-0-2 libturbojpeg0 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*

COPY --from=build /out/subsetter /usr/local/bin/subsetter
# The repository's job files, twice: /jobs is what the default command runs (compose
# mounts ./jobs over it), /app/jobs keeps the defaults within reach of a mounted /jobs.
COPY jobs/ /app/jobs/
COPY jobs/ /jobs/

# A non-root user owning /data: media (FiftyOne's dataset zoo layout), exports, cache.
RUN groupadd --gid 10001 subsetter \
 && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin subsetter \
 && mkdir -p /data/media /data/exports /data/cache \
 && chown -R 10001:10001 /data

# Paths inside the container; job files expand ${SUBSETTER_EXPORT_DIR:-exports}.
ENV FIFTYONE_DATASET_ZOO_DIR=/data/media \
    SUBSETTER_EXPORT_DIR=/data/exports \
    SUBSETTER_CACHE_DIR=/data/cache

USER 10001:10001
WORKDIR /app

# doctor connects as every command would and checks the privileges; exit 0 when healthy.
# The JSON report lands in `docker inspect`'s health log; --quiet keeps stderr to errors.
HEALTHCHECK --interval=1m --timeout=30s --start-period=30s --retries=3 \
  CMD ["subsetter", "doctor", "--json", "--quiet"]

# SIGTERM stops cleanly: `run` passes it to the running stage; fetch releases its leases
# and removes partial files. PID 1 ignores signals it has no handler for, so run with an
# init (compose's `init: true`, or `docker run --init`).
STOPSIGNAL SIGTERM
ENTRYPOINT ["subsetter"]
CMD ["run", "/jobs/open-images-v7-100.yaml"]
