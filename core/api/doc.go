// Package api holds the generated gRPC protocol between VNet clients and a
// cluster's proxy; vnet.proto is the source. It also says what comes
// through it to a person in one way: errors (ErrorLine) and times
// (TimeText).
package api

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative vnet.proto
