package platform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"
)

// ErrNoNft means the nft command is missing: no DeviceGuard can be put in
// place, and other local users may send through the device.
var ErrNoNft = errors.New("nft not found (install nftables)")

// DeviceGuard is a netfilter table (family inet) that lets only one local
// user's sockets send out of a device. Routes alone cannot stop a socket
// bound to the device (SO_BINDTODEVICE, which needs no privilege since
// Linux 5.7): the kernel then sends without a route, from the device's
// address, as if the user were VNet's. The table's output chain drops
// what leaves the device from a socket of any other uid (root's
// included), except DNS (port 53, UDP and TCP) to DNS, which every user's
// resolver may ask. Packets without a socket (the kernel's own: TCP
// resets, ICMP errors) are not matched by `meta skuid` and pass.
type DeviceGuard struct {
	// Table is the table's name (GuardTable): one per device in a
	// network namespace.
	Table string `json:"table"`
	// Dev is the device guarded, matched by name (oifname).
	Dev string `json:"dev"`
	// UID is the one user whose sockets may send out of Dev.
	UID uint32 `json:"uid"`
	// DNS are the addresses anyone may send DNS queries to through Dev.
	DNS []netip.Addr `json:"dns,omitempty"`
}

// GuardTable is the name of the DeviceGuard table for device dev.
func GuardTable(dev string) string { return "vnet_" + dev }

// checkNftName reports whether s can be written into an nft script as it
// is: an identifier's characters (device names are checked the same way by
// VNet's helper), so that nothing in it is read as syntax.
func checkNftName(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("name %q: letters, digits, '-', '_' and '.' only", s)
		}
	}
	return nil
}

// deleteScript removes table if it exists: adding it first makes the
// delete succeed either way, in one transaction.
func deleteScript(table string) string {
	return fmt.Sprintf("table inet %s\ndelete table inet %s\n", table, table)
}

// Script is g as an nft script (`nft -f -`): it replaces the whole table
// in one transaction, so that the guard never has a gap.
func (g DeviceGuard) Script() (string, error) {
	if err := checkNftName(g.Table); err != nil {
		return "", fmt.Errorf("guard table: %w", err)
	}
	if err := checkNftName(g.Dev); err != nil {
		return "", fmt.Errorf("guard device: %w", err)
	}
	var b strings.Builder
	b.WriteString(deleteScript(g.Table))
	fmt.Fprintf(&b, "table inet %s {\n", g.Table)
	b.WriteString("\tchain output {\n")
	b.WriteString("\t\ttype filter hook output priority filter; policy accept;\n")
	for _, a := range g.DNS {
		fam := "ip"
		if a.Is6() && !a.Is4In6() {
			fam = "ip6"
		}
		fmt.Fprintf(&b, "\t\toifname %q %s daddr %s meta l4proto { tcp, udp } th dport 53 accept\n", g.Dev, fam, a.Unmap().WithZone(""))
	}
	fmt.Fprintf(&b, "\t\toifname %q meta skuid != %d drop\n", g.Dev, g.UID)
	b.WriteString("\t}\n}\n")
	return b.String(), nil
}

// ApplyGuard puts g in force, replacing the table of the same name.
func ApplyGuard(ctx context.Context, g DeviceGuard) error {
	script, err := g.Script()
	if err != nil {
		return err
	}
	if err := runNft(ctx, script); err != nil {
		return fmt.Errorf("no guard on %s: %w", g.Dev, err)
	}
	return nil
}

// DeleteGuard removes the table named table; a table that is not there
// is not an error, nor is a missing nft: without it no table was made
// (and one made before nft went only matches a device of its name).
func DeleteGuard(ctx context.Context, table string) error {
	if err := checkNftName(table); err != nil {
		return fmt.Errorf("guard table: %w", err)
	}
	err := runNft(ctx, deleteScript(table))
	if err != nil && !errors.Is(err, ErrNoNft) {
		return fmt.Errorf("delete nft table inet %s: %w", table, err)
	}
	return nil
}

// runNft runs `nft -f -` with script on its input, bounded in time; nft's
// first line of complaint becomes the error's text.
func runNft(ctx context.Context, script string) error {
	path, err := exec.LookPath("nft")
	if err != nil {
		return ErrNoNft
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
		return fmt.Errorf("nft: %v: %s", err, msg)
	}
	return nil
}
