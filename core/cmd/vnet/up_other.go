//go:build !linux

package main

import (
	"context"
	"errors"
)

func runUp(context.Context, []string) error {
	return errors.New("'vnet up' runs on Linux; on macOS use the VNet menu-bar app")
}
