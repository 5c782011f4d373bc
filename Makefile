# The two README commands: `make run` and `make test`. Each installs missing
# Debian packages (scripts/setup.sh), builds, then runs.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
PYTHON := /usr/bin/python3

.PHONY: all setup configure build run test unit integration fuzz bench format clean

all: build

setup:
	@bash scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@bash scripts/run.sh

test: build
	@bash scripts/test.sh

unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

integration: build
	@$(PYTHON) -m pytest tests/integration -q

fuzz: setup
	@bash scripts/fuzz.sh

bench: build
	@MESHKV_SETUP_BENCH=1 bash scripts/setup.sh
	@bash bench/http_bench.sh

format:
	@find src tests bench -name '*.cc' -o -name '*.h' | xargs clang-format -i

clean:
	@rm -rf $(BUILD_DIR)
