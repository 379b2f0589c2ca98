package vnet

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vnetproject/vnet/core/atomicfile"
)

// secretSize is the length of the machine's address secret in bytes.
const secretSize = 32

// LoadOrCreateSecret returns the machine's address secret stored at path,
// creating it (32 random bytes, hex, mode 0600) on first use. Apps'
// virtual addresses are derived from it (Config.AddressSecret), so they
// stay the same across runs on this machine and cannot be computed on any
// other, by a web page for instance.
//
// The file is written whole under a temporary name and then linked into
// place (atomicfile.CreateFile), which fails if path already exists: of
// two first starts at once, one creates the file and both return its
// secret; nobody ever reads a half-written one.
func LoadOrCreateSecret(path string) ([]byte, error) {
	secret, err := readSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	secret = make([]byte, secretSize)
	rand.Read(secret) // crypto/rand.Read never fails since Go 1.24
	err = atomicfile.CreateFile(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readSecret(path) // another start made it first
	}
	if err != nil {
		return nil, err
	}
	return secret, nil
}

func readSecret(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(secret) != secretSize {
		return nil, fmt.Errorf("%s: not a %d-byte hex secret: delete it to make a new one (apps then get new addresses)", path, secretSize)
	}
	return secret, nil
}
