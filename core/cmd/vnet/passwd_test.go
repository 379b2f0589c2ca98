package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/daemon"
)

// TestPasswdAndReset: a user signs up with a password, changes it with
// 'vnet passwd' (the old one stops working), forgets it, and signs up
// again with the token of 'vnet ctl users reset'. All through the
// command lines a person types.
func TestPasswdAndReset(t *testing.T) {
	c := clustertest.Start(t, "root.test", "proxy.root.test")
	dir := t.TempDir()
	t.Setenv("VNET_HOME", filepath.Join(dir, "home"))
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	identity := daemon.AdminProfileDir(c.Config.DataDir)
	pin := c.Daemon.Auth().CA().Pin()
	tokenRE := regexp.MustCompile(`(?m)^  token: (\S+)$`)
	signup := func(args ...string) string {
		t.Helper()
		code, out, errOut := runTest(t, append([]string{"ctl", "--identity", identity, "users"}, args...)...)
		m := tokenRE.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("ctl users %v: exit %d, %s%s", args, code, out, errOut)
		}
		return file("token", m[1])
	}
	step := func(name string, wantCode int, want string, args ...string) {
		t.Helper()
		code, out, errOut := runTest(t, args...)
		if code != wantCode || !strings.Contains(out+errOut, want) {
			t.Fatalf("%s: vnet %v: exit %d (want %d), output %q, want %q", name, args, code, wantCode, out+errOut, want)
		}
	}
	login := []string{"login", "--proxy=https://" + c.Addr, "--user=carol"}

	token := signup("add", "carol")
	step("no terminal, no password: refused", 1, "pass --new-password-file=FILE (or --no-password)", append(login, "--token-file="+token, "--ca-pin="+pin)...)
	step("sign up with a password", 0, "Password set", append(login, "--token-file="+token, "--ca-pin="+pin, "--new-password-file="+file("pw1", "first password"))...)
	step("passwd with a wrong current password", 1, "the current password is wrong", "passwd", "--password-file="+file("bad", "not the one"), "--new-password-file="+file("pw2", "second password"))
	step("passwd", 0, "Password changed for carol", "passwd", "--password-file="+file("pw1", "first password"), "--new-password-file="+file("pw2", "second password"))
	step("the old password no longer works", 1, "invalid user name, token or password", append(login, "--password-file="+file("pw1", "first password"))...)
	step("the new one does", 0, "Logged in to root.test as carol", append(login, "--password-file="+file("pw2", "second password"))...)

	token = signup("reset", "carol")
	step("after a reset the password is gone", 1, "invalid user name, token or password", append(login, "--password-file="+file("pw2", "second password"))...)
	step("the reset token signs up again", 0, "Password set", append(login, "--token-file="+token, "--new-password-file="+file("pw3", "third password"))...)
	step("reset of an unknown user", 1, `user "nobody"`, "ctl", "--identity", identity, "users", "reset", "nobody")
}
