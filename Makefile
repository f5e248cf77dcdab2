# peercache: `make run` serves the dashboard, `make test` runs every test.
# Both install what they need first (rustup target, wasm-bindgen, Chromium,
# npm packages), so they work on a fresh machine.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# One build directory outside the clone, so repeated runs (and CI) reuse it.
export CARGO_TARGET_DIR ?= /var/tmp/peercache-target
export PATH := $(HOME)/.cargo/bin:$(PATH)

WASM_BINDGEN_VERSION := 0.2.108
SITE := $(CARGO_TARGET_DIR)/site
PKG := $(SITE)/pkg
SERVER_BIN := $(CARGO_TARGET_DIR)/debug/peercache
export PEERCACHE_SITE_ROOT := $(SITE)
# PyGithub for the client tests, in a virtualenv beside the builds.
VENV := $(CARGO_TARGET_DIR)/venv
export PEERCACHE_PYTHON := $(VENV)/bin/python
CLIENT_REQUIREMENTS := server/tests/clients/requirements.txt
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run release test setup setup-rust setup-browser setup-clients build wasm server test-rust test-fleet test-browser fleet bench

# Builds only what it serves: the WASM bundle and the server binary (no tests).
run: setup-rust wasm
	cargo build -p server --bin peercache
	$(SERVER_BIN) serve

# The optimised binary with the dashboard inside it: copy it anywhere (see
# the README's Install section).
release: setup-rust wasm
	cargo build --release -p server --bin peercache
	@echo "built $(CARGO_TARGET_DIR)/release/peercache ($$(du -h $(CARGO_TARGET_DIR)/release/peercache | cut -f1))"

# The release server builds while the other tests run, at idle priority
# (SCHED_IDLE: it gets only the CPU time the tests leave, so their timing is
# their own); the browser test of the release binary (release.spec.ts) runs
# last, once it is built. On 2 cores this takes most of that build off the
# clock (BENCHMARKS.md, "A new user's two commands").
RELEASE_LOG := $(CARGO_TARGET_DIR)/release-build.log
test: setup build
	@chrt --idle 0 cargo build --release -p server --bin peercache >$(RELEASE_LOG) 2>&1 & release=$$!; \
	trap 'kill $$release 2>/dev/null || true' EXIT; \
	echo "building the release server at idle priority beside the tests (log: $(RELEASE_LOG))"; \
	$(MAKE) --no-print-directory test-rust test-fleet test-browser BROWSER_TESTS="$(BROWSER_TESTS_BUT_RELEASE)"; \
	echo "waiting for the release server"; \
	wait $$release || { tail -n 40 $(RELEASE_LOG); echo "the release build failed (log: $(RELEASE_LOG))"; exit 1; }; \
	tail -n 1 $(RELEASE_LOG); \
	$(MAKE) --no-print-directory test-browser BROWSER_TESTS=release.spec.ts

setup: setup-rust setup-browser setup-clients

setup-rust:
	@# A shared build directory grows with every changed build; past 40 GiB start the debug half afresh.
	@if [ -d "$(CARGO_TARGET_DIR)/debug" ] && [ "$$(du -s "$(CARGO_TARGET_DIR)" | cut -f1)" -gt 41943040 ]; then \
	  echo "$(CARGO_TARGET_DIR) is over 40 GiB: removing its debug builds"; rm -rf "$(CARGO_TARGET_DIR)/debug"; \
	fi
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@if ! command -v brotli >/dev/null; then \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y brotli; \
	fi

setup-browser:
	@if ! command -v chromium >/dev/null; then \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium fonts-noto-color-emoji; \
	fi
	@if ! command -v npm >/dev/null; then \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y nodejs npm; \
	fi
	@cd end2end && if ! cmp -s package-lock.json node_modules/.package-lock.json; then \
	  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund; \
	fi

# The GitHub clients the proxy is tested with: Debian's gh, PyGithub (pinned,
# in $(VENV)); Octokit comes with end2end's npm packages (setup-browser).
# Debian's Prometheus checks the Grafana board's queries (server/tests/grafana.rs).
setup-clients:
	@if ! command -v gh >/dev/null; then \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y gh; \
	fi
	@if ! command -v prometheus >/dev/null; then \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends prometheus; \
	fi
	@if ! cmp -s $(CLIENT_REQUIREMENTS) $(VENV)/requirements.txt; then \
	  python3 -m venv $(VENV) && $(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(CLIENT_REQUIREMENTS) \
	  && cp $(CLIENT_REQUIREMENTS) $(VENV)/requirements.txt; \
	fi

build: wasm server

# The browser half: app compiled with `hydrate` to WASM, bound by wasm-bindgen,
# each file beside its gzip and brotli forms (the server sends the smallest the
# browser takes). Files are replaced only when they changed, so an unchanged
# bundle does not make the server (which embeds it) build again.
# wasm-bindgen-cli (its `wasm-bindgen` binary only) is installed the first
# time, while the WASM crate compiles: each fills the other's one-core stretches.
wasm:
	@installer=; if ! wasm-bindgen --version 2>/dev/null | grep -q " $(WASM_BINDGEN_VERSION)$$"; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) beside the WASM build (about 5 minutes, once)"; \
	  CARGO_TARGET_DIR=$(CARGO_TARGET_DIR)/wasm-bindgen-cli cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) \
	    --locked --bin wasm-bindgen & installer=$$!; \
	fi; \
	cargo build -p frontend --target wasm32-unknown-unknown --profile wasm-release; \
	if [ -n "$$installer" ]; then wait $$installer; rm -rf $(CARGO_TARGET_DIR)/wasm-bindgen-cli; fi
	mkdir -p $(PKG) $(SITE)/stage
	wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
	  --out-dir $(SITE)/stage --out-name peercache \
	  $(CARGO_TARGET_DIR)/wasm32-unknown-unknown/wasm-release/frontend.wasm
	cp style/main.css $(SITE)/stage/peercache.css
	for file in peercache.js peercache_bg.wasm peercache.css; do \
	  if ! cmp -s $(SITE)/stage/$$file $(PKG)/$$file || [ ! -f $(PKG)/$$file.br ]; then \
	    cp $(SITE)/stage/$$file $(PKG)/$$file; \
	    gzip -9 -n -k -f $(PKG)/$$file; \
	    brotli -q 11 -k -f $(PKG)/$$file; \
	  fi; \
	done

# The server half; built by the same command the tests use, so it is built once.
server:
	cargo test --no-run

# Built by `server` above; the time bound only covers running the tests.
test-rust:
	timeout 900 cargo test

# The fleet harness, short: 8 nodes (each in its own network namespace where
# they can be made), delivery, a partition, kill -9 under load, a short soak.
test-fleet:
	timeout 300 python3 server/tests/fleet/fleet.py --bin $(SERVER_BIN) --nodes 8 --short

# The full fleet runs, release build, for BENCHMARKS.md (about 45 minutes: a 10-minute soak each),
# then 100 nodes' delivery (network namespaces: as root).
fleet:
	cargo build --release -p server
	for n in 10 25 50; do python3 server/tests/fleet/fleet.py --bin $(CARGO_TARGET_DIR)/release/peercache --nodes $$n; done
	python3 server/tests/fleet/fleet.py --bin $(CARGO_TARGET_DIR)/release/peercache --nodes 100 --net netns --scenarios delivery

# The proxy's HITs against nginx: wall clock (3 alternating rounds), then
# instructions per HIT under callgrind (see BENCHMARKS.md; about 10 minutes).
bench: setup-rust
	@for tool in nginx wrk valgrind; do command -v $$tool >/dev/null || missing="$${missing:-} $$tool"; done; \
	if [ -n "$${missing:-}" ]; then \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y nginx-light wrk valgrind; \
	fi
	bash server/benches/proxy_vs_nginx.sh
	INSTRUCTIONS=1 bash server/benches/proxy_vs_nginx.sh

# All browser tests, or the spec files named in BROWSER_TESTS.
BROWSER_TESTS ?=
BROWSER_TESTS_BUT_RELEASE = $(filter-out release.spec.ts,$(notdir $(wildcard end2end/tests/*.spec.ts)))
test-browser:
	cd end2end && PEERCACHE_BIN=$(SERVER_BIN) PEERCACHE_RELEASE_BIN=$(CARGO_TARGET_DIR)/release/peercache \
	  timeout 900 npx playwright test $(BROWSER_TESTS)
