package main

import (
	"context"
	"errors"
)

func runPasswd(_ context.Context, args []string) error {
	if err := noArgs(newFlags("passwd"), args); err != nil {
		return err
	}
	return errors.New("not yet")
}

func ctlUsersReset(_ context.Context, _ *ctlClient, args []string) error {
	if _, err := parseArgs(newFlags("ctl users reset"), args, 1, 1); err != nil {
		return err
	}
	return errors.New("not yet")
}
