package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// onlyFiles fails the test unless dir holds exactly the names want: no
// temporary file is left behind.
func onlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(want) {
		t.Fatalf("folder holds %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("folder holds %q, want %q", got, want)
		}
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	for _, tc := range []struct {
		data string
		perm os.FileMode
	}{
		{"first", 0o600},
		{"second, longer than the first", 0o600},
		{"public", 0o644},
	} {
		if err := WriteFile(path, []byte(tc.data), tc.perm); err != nil {
			t.Fatal(err)
		}
		if got := readString(t, path); got != tc.data {
			t.Fatalf("file holds %q, want %q", got, tc.data)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.perm {
			t.Fatalf("mode %v, want %v", fi.Mode().Perm(), tc.perm)
		}
		onlyFiles(t, dir, "key.pem")
	}
}

// TestWriteFileErrorKeepsOldFile: a write that fails (here the fsync, as
// on a full or failing disk) leaves the old file whole and no temporary
// file.
func TestWriteFileErrorKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cert.pem")
	if err := WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	diskFull := errors.New("no space left on device")
	syncFile = func(*os.File) error { return diskFull }
	t.Cleanup(func() { syncFile = (*os.File).Sync })

	if err := WriteFile(path, []byte("new"), 0o600); !errors.Is(err, diskFull) {
		t.Fatalf("WriteFile with a failing sync = %v, want %v", err, diskFull)
	}
	if got := readString(t, path); got != "old" {
		t.Fatalf("after a failed write the file holds %q, want the old %q", got, "old")
	}
	onlyFiles(t, dir, "cert.pem")
}

// TestWriteFileRenameError: a rename that fails (path is a folder) leaves
// the folder as it was and no temporary file.
func TestWriteFileRenameError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ca.pem")
	if err := os.MkdirAll(filepath.Join(path, "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o600); err == nil {
		t.Fatal("WriteFile over a non-empty folder succeeded")
	}
	onlyFiles(t, dir, "ca.pem")
	onlyFiles(t, path, "inside")
}

func TestWriteFileMissingFolder(t *testing.T) {
	if err := WriteFile(filepath.Join(t.TempDir(), "nope", "key.pem"), []byte("x"), 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("WriteFile into a missing folder = %v, want fs.ErrNotExist", err)
	}
}

func TestCreateFileDoesNotReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := CreateFile(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CreateFile(path, []byte("second"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateFile over an existing file = %v, want fs.ErrExist", err)
	}
	if got := readString(t, path); got != "first" {
		t.Fatalf("file holds %q, want the first %q", got, "first")
	}
	onlyFiles(t, dir, "secret")
}
