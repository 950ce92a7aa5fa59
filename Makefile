# The README's two commands:
#   make demo   install what is missing, build, and run the quickstart
#   make test   install what is missing, build, and run every test (what CI runs)
# Everything comes from Debian 12's archive; nothing is downloaded from anywhere else.

SHELL := /bin/bash
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CTEST_JOBS ?= $(JOBS)
LIFEBOAT := $(BUILD_DIR)/lifeboat

# Build dependencies (the libraries of DESIGN.md) and tools.
BUILD_PACKAGES := build-essential cmake pkg-config ccache git \
  libcpprest-dev libyaml-cpp-dev prometheus-cpp-dev libspdlog-dev libssl-dev \
  libgtest-dev libgmock-dev libzstd-dev libsqlite3-dev libbenchmark-dev \
  nlohmann-json3-dev rapidjson-dev
# Real peers the tests drive: kubectl (Debian's kubernetes-client when kubectl is missing),
# a Prometheus server with promtool, openssl, python3 for the dataset generator, curl (demo),
# tzdata (IANA time zones of cron schedules). Node.js and npm (Debian's nodejs, npm) when
# missing, for the S3 test server in tests/s3/.
TEST_PACKAGES := prometheus openssl python3 python3-yaml ca-certificates curl tzdata
# Peers of the side-by-side benchmarks (bench/), installed by `make bench-deps`.
BENCH_PACKAGES := restic borgbackup rsync python3

.PHONY: all deps test-deps install-kubectl kubectl-1.20 build test demo clean fuzz bench-deps format

all: build

# Installs the packages in $(1) that are not installed yet; apt-get update runs once, only if needed.
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO="sudo"; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call apt_install,$(BUILD_PACKAGES))

test-deps: deps
	$(call apt_install,$(TEST_PACKAGES))
	@command -v kubectl >/dev/null || $(MAKE) --no-print-directory install-kubectl
	@$(MAKE) --no-print-directory kubectl-1.20
	@command -v node >/dev/null && command -v npm >/dev/null || { SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO="sudo"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm; }
	@# The S3-compatible test server (s3rver, pinned by tests/s3/package-lock.json).
	@[ -d tests/s3/node_modules/s3rver ] || (cd tests/s3 && npm ci --no-audit --no-fund --loglevel=error)

# Debian's kubectl, only when no kubectl is on PATH (a newer one from elsewhere is kept).
install-kubectl:
	$(call apt_install,kubernetes-client)

# Debian 12's kubectl (kubernetes-client, 1.20) unpacked into $(KUBECTL_120_DIR) without
# installing it: the kubectl e2e suite runs a second time with it (ctest names kubectl-1.20.*),
# so the tests pass with the newest kubectl and with Debian's. Only from the Debian archive, only
# where apt-get and dpkg-deb exist; elsewhere those tests skip and say why.
KUBECTL_120_DIR := $(BUILD_DIR)/kubectl-1.20
kubectl-1.20:
	@if [ -x $(KUBECTL_120_DIR)/usr/bin/kubectl ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then \
	  echo "No apt-get/dpkg-deb: the kubectl-1.20.* e2e tests will skip"; exit 0; fi; \
	tmp=$$(mktemp -d); \
	if (cd $$tmp && { apt-get download kubernetes-client >/dev/null 2>&1 || \
	      { SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO="sudo"; \
	        $$SUDO apt-get update -qq && apt-get download kubernetes-client; }; }) && \
	   mkdir -p $(KUBECTL_120_DIR) && dpkg-deb -x $$tmp/kubernetes-client_*.deb $(KUBECTL_120_DIR); then \
	  echo "Unpacked $$($(KUBECTL_120_DIR)/usr/bin/kubectl version --client --short 2>/dev/null) into $(KUBECTL_120_DIR)"; \
	else echo "Could not get Debian's kubernetes-client: the kubectl-1.20.* e2e tests will skip"; fi; \
	rm -rf $$tmp

bench-deps: deps
	$(call apt_install,$(BENCH_PACKAGES))

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  $$(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: test-deps build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(CTEST_JOBS) --timeout 600

demo: test-deps build
	./examples/demo.sh $(LIFEBOAT)

# libFuzzer targets for the YAML/JSON decoders (clang), run for FUZZ_SECONDS each. Not in CI.
FUZZ_SECONDS ?= 60
fuzz: deps
	$(call apt_install,clang libclang-rt-14-dev)
	cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DCMAKE_C_COMPILER=clang -DLIFEBOAT_BUILD_FUZZ=ON -DLIFEBOAT_BUILD_BENCH=OFF \
	  $$(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
	cmake --build build-fuzz -j $(JOBS) --target fuzz_targets
	./tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf $(BUILD_DIR) build-fuzz
