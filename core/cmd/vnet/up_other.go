//go:build !linux

package main

import (
	"context"
	"errors"
)

func runUp(_ context.Context, args []string) error {
	if err := noArgs(newFlags("up"), args); err != nil {
		return err
	}
	return errors.New("'vnet up' runs on Linux; on macOS use the VNet menu-bar app")
}

func runDown(_ context.Context, args []string) error {
	if err := noArgs(newFlags("down"), args); err != nil {
		return err
	}
	return errors.New("'vnet down' runs on Linux; on macOS quit the VNet menu-bar app")
}

func isUpLauncher() bool { return false }

func runningPID(string) int { return 0 }

func staleResolver() string { return "" }
