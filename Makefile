# arrow-mino: every tool lands in .bin/, every byte of data in .data/.
# `make run` installs what is missing and starts everything; `make test`
# runs the whole test suite against real MinIO and NATS processes.

# PocketBase v0.40 needs Go 1.27; the go command fetches this toolchain
# through the module proxy when the machine's Go is older.
export GOTOOLCHAIN := go1.27.3

BIN           := $(CURDIR)/.bin
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MC_VERSION    := v0.0.0-20250313080218-cf909e1063a9
NATS_VERSION  := v2.15.3
CORPUS        ?= $(CURDIR)/../shared/corpus
NATS_PORT     ?= 4222
RUST_CLIENT     := $(BIN)/rust-client
RUST_CLIENT_SRC := $(CURDIR)/flight/testdata/rust-client

.PHONY: run 0-dep 1-minio 2-sqlite 3-nats all-serve build test corpus bench reconcile mc upload exiftool test-deps clean

run: all-serve

## 0-dep: build every tool into .bin/ (MinIO from source takes ~2 minutes once)
0-dep: $(BIN)/minio build

$(BIN)/minio:
	@echo "building the MinIO server into .bin/ (once, about two minutes)"
	GOBIN=$(BIN) go install github.com/minio/minio@$(MINIO_VERSION)

$(BIN)/nats-server:
	GOBIN=$(BIN) go install github.com/nats-io/nats-server/v2@$(NATS_VERSION)

## build: compile arrow-mino into .bin/ (go's cache makes repeats quick)
build:
	CGO_ENABLED=0 go build -o $(BIN)/arrow-mino .

## 1-minio: run the MinIO server alone, wired to arrow-mino's NATS
1-minio: 0-dep
	$(BIN)/arrow-mino minio

## 2-sqlite: run arrow-mino alone (PocketBase, ingest, embedded NATS, Flight SQL)
2-sqlite: 0-dep
	$(BIN)/arrow-mino serve

## 3-nats: run an external NATS with JetStream; then start the others with
##   ARROW_MINO_NATS_URL=nats://USER:PASS@127.0.0.1:$(NATS_PORT) (printed below)
3-nats: $(BIN)/nats-server build
	@$(BIN)/arrow-mino secrets > /dev/null
	@user=$$(sed -n 's/.*"nats_user": "\(.*\)".*/\1/p' .data/secrets.json); \
	pass=$$(sed -n 's/.*"nats_password": "\(.*\)".*/\1/p' .data/secrets.json); \
	echo "export ARROW_MINO_NATS_URL=nats://$$user:$$pass@127.0.0.1:$(NATS_PORT)"; \
	exec $(BIN)/nats-server -a 127.0.0.1 -p $(NATS_PORT) --jetstream --store_dir .data/nats-external \
		--user "$$user" --pass "$$pass"

## all-serve: MinIO and arrow-mino together from the Procfile; Ctrl-C stops both
all-serve: 0-dep
	$(BIN)/arrow-mino up Procfile

## reconcile: list the watched buckets and make the index match them
reconcile: build
	$(BIN)/arrow-mino reconcile

## mc: MinIO's command-line client, into .bin/
mc: $(BIN)/mc

$(BIN)/mc:
	GOBIN=$(BIN) go install github.com/minio/mc@$(MC_VERSION)

## upload DIR=folder: copy a folder into the demo bucket of the running stack
upload: $(BIN)/mc build
	@test -n "$(DIR)" || { echo "usage: make upload DIR=folder"; exit 1; }
	@$(BIN)/arrow-mino secrets > /dev/null
	@user=$$(sed -n 's/.*"minio_user": "\(.*\)".*/\1/p' .data/secrets.json); \
	pass=$$(sed -n 's/.*"minio_password": "\(.*\)".*/\1/p' .data/secrets.json); \
	MC_CONFIG_DIR=$(CURDIR)/.data/mc MC_HOST_local="http://$$user:$$pass@127.0.0.1:9000" \
		$(BIN)/mc cp --recursive "$(DIR)/" local/demo/

## test-deps: Debian packages the tests drive: ffmpeg (video poster frames),
## chromium (the web GUI's browser tests) and node with npm; then the Rust
## Flight SQL client from npm into .bin/rust-client/ (once per lock file)
test-deps:
	@command -v ffmpeg > /dev/null && command -v chromium > /dev/null && command -v npm > /dev/null || \
		{ apt-get update -qq && apt-get install -y -qq ffmpeg chromium nodejs npm; }
	@cmp -s $(RUST_CLIENT_SRC)/package-lock.json $(RUST_CLIENT)/.installed-lock.json || \
		{ rm -rf $(RUST_CLIENT) && mkdir -p $(RUST_CLIENT) && \
		cp $(RUST_CLIENT_SRC)/package.json $(RUST_CLIENT_SRC)/package-lock.json $(RUST_CLIENT)/ && \
		cd $(RUST_CLIENT) && npm ci --ignore-scripts --no-audit --no-fund --cache $(BIN)/npm-cache && \
		cp package-lock.json .installed-lock.json; }

## test: every test, against real MinIO, NATS and Flight SQL clients
test: 0-dep test-deps
	go vet ./...
	go test -count=1 -timeout 20m ./...

## corpus: the integration and media tests on the whole shared media corpus
corpus: 0-dep test-deps
	@test -d "$(CORPUS)" || { echo "no corpus at $(CORPUS)"; exit 1; }
	ARROW_MINO_CORPUS="$(CORPUS)" go test -count=1 -timeout 20m -run 'Corpus' ./...

## exiftool: the media benchmark's baseline, from Debian's packages
exiftool:
	@command -v exiftool > /dev/null || { apt-get update -qq && apt-get install -y -qq libimage-exiftool-perl; }

## bench: ingest, Flight SQL and media benchmarks, each against a baseline of the same run
bench: 0-dep exiftool
	ARROW_MINO_CORPUS="$(CORPUS)" go test -count=1 -timeout 30m -run '^$$' -bench . -benchtime 1x ./bench/

clean:
	rm -rf .bin .data
