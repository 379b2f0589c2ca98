// Package api holds the generated gRPC protocol between VNet clients and a
// cluster's proxy; vnet.proto is the source.
package api

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative vnet.proto
