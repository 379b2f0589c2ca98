package proxy

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/cluster/store"
)

// When the store is down (etcd lost its quorum), the proxy is degraded:
// reads are served from the store's copy (store.Mirror), writes fail at
// once with the store's one line, and Status and the catalog say so.

// unavailableStatus is err as a client sees it when the store could not
// answer: codes.Unavailable and the store's own line ("store unavailable:
// etcd at ...: create ...: no leader"), without the wrapping of each
// layer it went through. ok is false for other errors.
func unavailableStatus(err error) (error, bool) {
	ue := store.Unavailable(err)
	if ue == nil {
		return err, false
	}
	return status.Error(codes.Unavailable, ue.Error()), true
}

// storeHealth is why the store cannot answer now, one line, or "".
func storeHealth(st store.Store) string {
	if st == nil {
		return ""
	}
	if err := store.Health(st); err != nil {
		if ue := store.Unavailable(err); ue != nil {
			return ue.Error()
		}
		return err.Error()
	}
	return ""
}
