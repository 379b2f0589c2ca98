// Package atomicfile writes files that a crash or a full disk never leaves
// half-written: keys, certificates and secrets.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data, mode perm. The data goes to a
// temporary file in path's folder, which is fsynced and renamed over path;
// then the folder is fsynced so that the rename survives a power cut.
// Readers see the old file or the new one, never a mix; on an error the
// old file is left as it was and the temporary file is removed.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, os.Rename)
}

// CreateFile is WriteFile for a file that must not exist yet: the
// temporary file is linked into place instead of renamed, so of two
// writers racing to create path one wins and the other gets an error
// matching fs.ErrExist, and path is never replaced.
func CreateFile(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, os.Link)
}

// syncFile is (*os.File).Sync; a test makes it fail.
var syncFile = (*os.File).Sync

func write(path string, data []byte, perm os.FileMode, place func(tmp, path string) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// The dot keeps the temporary file out of listings that look for
	// profiles; CreateTemp makes it with mode 0600, so a key is never
	// readable by others, not even for a moment.
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	// After a rename the temporary name is gone; after a link it is a
	// second name of path; after an error it is all that is left.
	defer os.Remove(tmp)
	if perm != 0o600 {
		err = f.Chmod(perm)
	}
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = syncFile(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = place(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := syncFile(d); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}
