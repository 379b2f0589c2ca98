#!/usr/bin/env bash
# The whole test suite: vet, unit and in-process system tests (with -race),
# then the end-to-end tests in network namespaces (those need root; without
# root they are skipped with a message).
set -euo pipefail
# sudo's secure_path usually leaves out Go's default install folder.
command -v go >/dev/null 2>&1 || PATH=$PATH:/usr/local/go/bin
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
	scripts/deps.sh
fi
echo "==> go vet, gofmt, and the darwin build (GOOS=darwin go vet)"
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
[ -z "$unformatted" ] || { echo "gofmt needed: $unformatted"; exit 1; }
GOOS=darwin GOARCH=arm64 go vet ./...
echo "==> go mod tidy -diff (go.mod and go.sum as go mod tidy leaves them)"
go mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy"; exit 1; }
echo "==> Swift: tree-sitter parse, bridge calls against bridge/vnet.h"
scripts/check-swift.sh
echo "==> go test -race ./..."
go test -race -count=1 ./...
if [ "$(id -u)" -eq 0 ]; then
	echo "==> end-to-end tests (network namespaces)"
	scripts/e2e.sh
	echo "==> leaf clusters and two roots end-to-end (network namespaces)"
	scripts/e2e-leaf.sh
	echo "==> names on the laptop: default addresses, two clusters with one name, refused claims (network namespaces)"
	scripts/e2e-names.sh
	echo "==> agents' claims end-to-end: app names, addresses, token limits, agents rm (network namespaces)"
	scripts/e2e-agents.sh
	echo "==> the store down: three etcd members, two proxies, quorum lost and back (network namespaces)"
	scripts/e2e-storedown.sh
	echo "==> logins that follow the user: login, logout, expiry while VNet runs (network namespaces)"
	scripts/e2e-logins.sh
	echo "==> the quick start, every command block of docs/quickstart.md (network namespaces)"
	scripts/e2e-quickstart.sh
	echo "==> the privilege split: the engine as the user, only its traffic, nothing left after kill -9 (network namespaces)"
	scripts/e2e-privsep.sh
	echo "==> split DNS through a real systemd-resolved with its own D-Bus (network and mount namespaces)"
	scripts/e2e-resolved.sh
	echo "==> bridge end-to-end tests: the C API over a real TUN (network namespaces)"
	scripts/bridge-e2e.sh
	echo "==> the bridge end-to-end tests again under ASan, LSan and UBSan (go build -asan, clang -fsanitize)"
	scripts/bridge-e2e.sh --sanitize
else
	echo "==> end-to-end tests skipped: they need root (sudo scripts/test.sh)"
fi
