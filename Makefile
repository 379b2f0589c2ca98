# VNet. `make help` lists the targets; `make test` is what CI runs.
GO ?= go
BIN := bin

.PHONY: help build test unit e2e demo check proto bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/vnet
	$(GO) build -o $(BIN)/vnet ./core/cmd/vnet

test: ## everything CI runs: vet, unit + system tests (-race), e2e in netns (root)
	scripts/test.sh

unit: ## unit and in-process system tests only (no root)
	$(GO) test -race ./...

e2e: ## end-to-end tests in network namespaces (root)
	scripts/e2e.sh

demo: ## the demo: cluster, app, vnet up, clients by name (root)
	scripts/demo.sh

check: ## vet, gofmt, and cross-builds (GOOS=darwin)
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...
	GOOS=darwin GOARCH=arm64 $(GO) build ./...

proto: ## regenerate core/api from vnet.proto (needs protoc, protoc-gen-go, protoc-gen-go-grpc)
	cd core/api && protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative vnet.proto

clean: ## remove build output
	rm -rf $(BIN)
