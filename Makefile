# VNet. `make help` lists the targets; `make test` is what CI runs.
GO ?= go
BIN := bin

.PHONY: help build install uninstall test unit e2e demo check proto bench clean bridge bridge-asan bridge-darwin check-swift

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# The commit `vnet version` prints (else Go's VCS stamp, when it has one).
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)

build: ## build bin/vnet
	$(GO) build -ldflags "-X github.com/vnetproject/vnet/core/version.commit=$(COMMIT)" -o $(BIN)/vnet ./core/cmd/vnet

# `make install`: PREFIX (default /usr/local) and DESTDIR (a staging root
# for packagers) as usual; the units' paths follow PREFIX.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR ?= $(PREFIX)/share/doc/vnet
INSTALL ?= install

install: build ## install bin/vnet, the systemd units, the guides and the sample configs (PREFIX=/usr/local, DESTDIR=)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 0755 $(BIN)/vnet $(DESTDIR)$(BINDIR)/vnet
	for unit in packaging/systemd/*.service packaging/systemd/*.socket; do \
		sed -e 's|/usr/local/bin/vnet|$(BINDIR)/vnet|g' -e 's|/usr/local/share/doc/vnet|$(DOCDIR)|g' $$unit >$(DESTDIR)$(UNITDIR)/$${unit##*/} || exit 1; \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${unit##*/}; \
	done
	$(INSTALL) -m 0644 packaging/examples/*.yaml $(DESTDIR)$(DOCDIR)/examples/
	$(INSTALL) -m 0644 docs/quickstart.md docs/admin.md docs/user.md $(DESTDIR)$(DOCDIR)/

uninstall: ## remove what install put under PREFIX (DESTDIR too); configs in /etc/vnet and state stay
	rm -f $(DESTDIR)$(BINDIR)/vnet
	for unit in packaging/systemd/*.service packaging/systemd/*.socket; do rm -f $(DESTDIR)$(UNITDIR)/$${unit##*/}; done
	rm -rf $(DESTDIR)$(DOCDIR)

test: ## everything CI runs: vet, unit + system tests (-race), e2e in netns (root)
	scripts/test.sh

unit: ## unit and in-process system tests only (no root)
	$(GO) test -race ./...

e2e: ## end-to-end tests in network namespaces (root)
	scripts/e2e.sh

demo: ## the demo: cluster, app, vnet up, clients by name (root)
	scripts/demo.sh

check: ## vet, staticcheck, gofmt, go mod tidy -diff, and cross-builds (GOOS=darwin)
	$(GO) vet ./...
	$(GO) mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy"; exit 1; }
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	$(MAKE) check-swift

bench: ## benchmarks, each next to a baseline from the same run (netns part needs root)
	$(GO) test -run '^$$' -bench . -benchtime 3x ./core/stack ./core/vnet
	scripts/bench.sh
	$(GO) test -run '^$$' -bench IdleWatchers -benchtime 1x -timeout 30m ./core/cluster/proxy
	$(GO) test -run '^$$' -bench Restart -benchtime 1x -timeout 30m ./core/cluster/daemon
	$(GO) test -run '^$$' -bench 'Lookup|ApplyDelta|CatalogMemory' -benchtime 3x ./core/catalog
	scripts/bench-scale.sh

proto: ## regenerate core/api from vnet.proto (needs protoc, protoc-gen-go, protoc-gen-go-grpc)
	cd core/api && protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative vnet.proto

CC ?= cc
# The macOS deployment target of the Mac build (MenuBarExtra needs 13).
MACOS_MIN ?= 13.0

bridge: ## the C API for this host: bin/libvnet.a (c-archive) and the C harness bin/vnet-harness
	CGO_ENABLED=1 $(GO) build -buildmode=c-archive -o $(BIN)/libvnet.a ./bridge
	$(CC) -Wall -Wextra -Werror -O2 -o $(BIN)/vnet-harness bridge/harness/harness.c -Ibridge $(BIN)/libvnet.a -lpthread

# The same under the sanitizers (scripts/bridge-e2e.sh --sanitize): the Go
# side built with -asan (its memory accesses checked by ASan, and with the
# cgocheck2 experiment, which checks every pointer Go stores in C memory),
# the harness with ASan, LSan and UBSan. Needs clang and its compiler-rt.
bridge-asan: ## the C API under ASan/LSan/UBSan: bin/asan/libvnet.a (go build -asan) and bin/asan/vnet-harness (clang -fsanitize)
	GOEXPERIMENT=cgocheck2 CC=clang CGO_ENABLED=1 $(GO) build -asan -buildmode=c-archive -o $(BIN)/asan/libvnet.a ./bridge
	clang -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -o $(BIN)/asan/vnet-harness bridge/harness/harness.c -Ibridge $(BIN)/asan/libvnet.a -lpthread

# On a Mac with Xcode: one c-archive per architecture, merged with lipo
# into bin/darwin/libvnet.a, next to the header; swift/project.yml links it.
bridge-darwin: ## on a Mac: universal bin/darwin/libvnet.a (arm64 + x86_64) and vnet.h for the Xcode project
	for arch in arm64:arm64 amd64:x86_64; do \
		goarch=$${arch%%:*}; carch=$${arch##*:}; \
		CGO_ENABLED=1 GOOS=darwin GOARCH=$$goarch MACOSX_DEPLOYMENT_TARGET=$(MACOS_MIN) \
		CC="xcrun --sdk macosx clang -arch $$carch -mmacosx-version-min=$(MACOS_MIN)" \
		$(GO) build -buildmode=c-archive -o $(BIN)/darwin/$$goarch/libvnet.a ./bridge || exit 1; \
	done
	lipo -create -output $(BIN)/darwin/libvnet.a $(BIN)/darwin/arm64/libvnet.a $(BIN)/darwin/amd64/libvnet.a
	cp bridge/vnet.h $(BIN)/darwin/vnet.h

check-swift: ## parse every .swift file (tree-sitter), check the bridge calls against bridge/vnet.h and the Decodable fields against bridge/testdata/*.golden.json
	scripts/check-swift.sh

clean: ## remove build output
	rm -rf $(BIN)
