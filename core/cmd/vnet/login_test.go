package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoginTokenOffTheCommandLine: the one-time token comes from a file
// (or a prompt at a terminal) instead of the command line; one source at
// a time; --signup without a terminal says what to use instead.
func TestLoginTokenOffTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("3f2a9c\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		lf        loginFlags
		token, pw string
		err       string
	}{
		{name: "token file and no terminal to ask for a password", lf: loginFlags{tokenFile: tokenFile}, err: "pass --new-password-file=FILE (or --no-password)"},
		{name: "token file, no password on purpose", lf: loginFlags{tokenFile: tokenFile, noPassword: true}, token: "3f2a9c"},
		{name: "a password and no password", lf: loginFlags{tokenFile: tokenFile, noPassword: true, newPasswordFile: pwFile}, err: "choose one"},
		{name: "no password without a token", lf: loginFlags{noPassword: true}, err: "--no-password is for a first login"},
		{name: "token file and a new password", lf: loginFlags{tokenFile: tokenFile, newPasswordFile: pwFile}, token: "3f2a9c", pw: "correct horse"},
		{name: "token on the command line still works", lf: loginFlags{token: "abc", noPassword: true}, token: "abc"},
		{name: "two sources", lf: loginFlags{token: "abc", tokenFile: tokenFile}, err: "use one"},
		{name: "signup and a file", lf: loginFlags{signup: true, tokenFile: tokenFile}, err: "use one"},
		{name: "signup without a terminal", lf: loginFlags{signup: true}, err: "pass --token-file"},
		{name: "missing token file", lf: loginFlags{tokenFile: filepath.Join(dir, "nope")}, err: "no such file"},
		{name: "token file and a password", lf: loginFlags{tokenFile: tokenFile, passwordFile: pwFile}, err: "do not go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := loginCredentials(tc.lf, "alice", "proxy.test:3080")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || cred.Token != tc.token || cred.NewPassword != tc.pw {
				t.Fatalf("credentials = %+v, %v; want token %q, new password %q", cred, err, tc.token, tc.pw)
			}
		})
	}
}
