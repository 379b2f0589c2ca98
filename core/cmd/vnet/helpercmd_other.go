//go:build !linux

package main

import (
	"context"
	"errors"
)

func runHelper(context.Context, []string) error {
	return errors.New("'vnet helper' runs on Linux")
}
