package main

import (
	"context"
	"errors"
)

func runDown(_ context.Context, args []string) error {
	if err := noArgs(newFlags("down"), args); err != nil {
		return err
	}
	return errors.New("not yet")
}
