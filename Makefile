# recd: the entry points a user types. The real build is CMake; this file only drives it.
BUILD   ?= build
TYPE    ?= RelWithDebInfo
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
PORT    ?= 8080
DATA    ?= ./recd-data
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= events_json api_batch ndjson csv_import movielens_import config_file experiments \
                rules jsonpos fm_snapshot als_snapshot model_snapshot prefs cold_file

.PHONY: all deps build run test bench clean test-asan test-tsan fuzz

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(TYPE) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/recd serve --port $(PORT) --data $(DATA)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRECD_SANITIZE=address >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

test-tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DRECD_SANITIZE=thread >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	cd build-tsan && ctest --output-on-failure -j $(JOBS)

# libFuzzer (clang, ASan+UBSan): each of FUZZ_TARGETS for FUZZ_SECONDS with its seed corpus
# fuzz/corpus/<target>; new inputs go to build-fuzz/fuzz-out, findings to build-fuzz/fuzz-artifacts.
fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DRECD_SANITIZE=address -DRECD_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzzers
	@sh fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

bench: build
	sh bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan
