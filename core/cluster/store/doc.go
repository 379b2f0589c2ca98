// Package store keeps the cluster's state in a key-value store.
//
// The cluster's CA, users, tokens and resources are stored as opaque bytes
// under '/'-separated keys ("/resources/app/tcp-app"). The Store interface is
// kept small and backend-neutral so that an etcd backend can sit beside the
// embedded one (Bolt) and the in-memory one used by tests (Memory); the
// conformance suite in package storetest is what every backend must pass.
package store
