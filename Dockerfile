# Lifeboat's container image: `lifeboat` and the CRDs on Debian 12 slim, running as non-root.
#   docker build -t lifeboat:dev .
#   docker run --rm lifeboat:dev version
# Everything comes from Debian 12's archive, as in the Makefile. tests/unit/charts checks that
# the build stage installs the Makefile's BUILD_PACKAGES and that the runtime packages below
# exist in Debian and provide every shared library `ldd lifeboat` lists.

FROM debian:12-slim AS build
# The Makefile's BUILD_PACKAGES.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config ccache git \
      libcpprest-dev libyaml-cpp-dev prometheus-cpp-dev libspdlog-dev libssl-dev \
      libgtest-dev libgmock-dev libzstd-dev libsqlite3-dev libbenchmark-dev \
      nlohmann-json3-dev rapidjson-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
      -DLIFEBOAT_BUILD_TESTS=OFF -DLIFEBOAT_BUILD_BENCH=OFF -DLIFEBOAT_BUILD_FUZZ=OFF \
 && cmake --build /build --target lifeboat -j"$(nproc)" \
 && strip /build/lifeboat

FROM debian:12-slim
# Runtime shared libraries of /build/lifeboat (ldd), by Debian package:
#   libcpprest2.10 (HTTP client/server), libyaml-cpp0.7, libprometheus-cpp-core1.0 +
#   libprometheus-cpp-pull1.0 + libcivetweb1 (/metrics), libspdlog1.10 + libfmt9 (logs),
#   libssl3 (TLS, AES-GCM, HMAC), libsqlite3-0 (lifeboat up's store), libzstd1, zlib1g and
#   libbrotli1 (compression used by the above), libstdc++6, libgcc-s1, libc6.
# Plus ca-certificates (TLS to object stores and sites) and tzdata (cron schedules' time zones).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcpprest2.10 libyaml-cpp0.7 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
      libcivetweb1 libspdlog1.10 libfmt9 libssl3 libsqlite3-0 libzstd1 zlib1g libbrotli1 \
      libstdc++6 libgcc-s1 libc6 \
      ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 lifeboat \
 && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/lifeboat --create-home \
      --shell /usr/sbin/nologin lifeboat
COPY --from=build /build/lifeboat /usr/local/bin/lifeboat
# `lifeboat up` finds its CRDs in <binary dir>/../share/lifeboat/crds.
COPY crds/ /usr/local/share/lifeboat/crds/
USER 65532:65532
WORKDIR /var/lib/lifeboat
ENV HOME=/var/lib/lifeboat
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/lifeboat"]
CMD ["controller"]
