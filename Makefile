# rampart — the two everyday commands:
#   make demo   install what is missing, build, train smallcnn on Fashion-MNIST and evaluate it
#   make test   install what is missing, build, run the test suite (ctest)
#   make install PREFIX=DIR   the command, rampart.h, librampart.{so,a}, rampart.pc, CMake package
# WERROR=ON turns warnings into errors (CI); JOBS sets build parallelism.

BUILD   ?= build
WERROR  ?= OFF
JOBS    ?= $(shell nproc)
RAMPART  = $(BUILD)/rampart
OUT     ?= out
PREFIX  ?= /usr/local

.PHONY: all deps build demo test test-asan bench install clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DRAMPART_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@mkdir -p $(OUT)
	$(RAMPART) train --data fashion-mnist --model smallcnn --epochs 10 --batch 128 --lr 0.05 \
	    --seed 1 --threads $(JOBS) --out $(OUT)/smallcnn.safetensors
	$(RAMPART) eval --model $(OUT)/smallcnn.safetensors --data fashion-mnist --attack none --noise none \
	    --limit 10000 --threads $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j 1

test-asan: deps
	@cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DRAMPART_SANITIZE=ON -DRAMPART_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD)-asan -j $(JOBS)
	@cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j 1

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

bench: build
	@bench/fmnist_epoch

clean:
	rm -rf $(BUILD) $(BUILD)-asan
