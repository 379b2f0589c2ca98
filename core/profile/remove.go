package profile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Remove deletes the profile of proxyAddr under home: its key, its
// certificate and the pinned CA. A running VNet drops the cluster within
// a Watch interval. It is an error if there is no such profile.
func Remove(home, proxyAddr string) error {
	dir := Dir(home, proxyAddr)
	if _, err := os.Stat(filepath.Join(dir, metaFile)); err != nil {
		return fmt.Errorf("not logged in to %s", proxyAddr)
	}
	// The key first: whatever else a failure leaves, the identity is gone.
	if err := os.Remove(filepath.Join(dir, keyFile)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove the key of %s: %w", proxyAddr, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove profile %s: %w", dir, err)
	}
	return nil
}
