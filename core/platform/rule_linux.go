package platform

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// UIDRule is a routing policy rule that sends the traffic of one local user
// to a routing table of its own, as `ip rule add iif lo uidrange U-U lookup
// T priority P` would: VNet's routes live in table T, so only that user's
// sockets reach VNet. "iif lo" limits the rule to traffic this host sends:
// forwarded packets (containers, other hosts routing through this one) are
// looked up with uid 0 and would otherwise match a rule for root.
type UIDRule struct {
	// Family is unix.AF_INET or unix.AF_INET6.
	Family int `json:"family"`
	// Priority orders the rule before the main table's (32766).
	Priority int `json:"priority"`
	// Table holds VNet's routes.
	Table int `json:"table"`
	// UID is the one user whose traffic the rule sends to Table.
	UID uint32 `json:"uid"`
	// From, when valid, limits the rule to packets from that source
	// (`from P`): VNet's rule for root's lookups from the device's own
	// address, which the kernel's reverse-path check makes as uid 0.
	From netip.Prefix `json:"from,omitzero"`
}

func (r UIDRule) String() string {
	fam := "inet"
	if r.Family == unix.AF_INET6 {
		fam = "inet6"
	}
	from := ""
	if r.From.IsValid() {
		from = " from " + r.From.String()
	}
	return fmt.Sprintf("%s rule priority %d iif lo%s uidrange %d-%d lookup %d", fam, r.Priority, from, r.UID, r.UID, r.Table)
}

func (r UIDRule) netlink() *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = r.Family
	nr.Priority = r.Priority
	nr.Table = r.Table
	nr.IifName = "lo"
	nr.UIDRange = netlink.NewRuleUIDRange(r.UID, r.UID)
	if r.From.IsValid() {
		nr.Src = &net.IPNet{IP: r.From.Addr().AsSlice(), Mask: net.CIDRMask(r.From.Bits(), r.From.Addr().BitLen())}
	}
	return nr
}

// AddUIDRule adds r; a rule that is already there is not an error.
func AddUIDRule(r UIDRule) error {
	err := netlink.RuleAdd(r.netlink())
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s: %w", r, err)
	}
	return nil
}

// DelUIDRule deletes r; a rule that is already gone is not an error.
func DelUIDRule(r UIDRule) error {
	err := netlink.RuleDel(r.netlink())
	if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("delete %s: %w", r, err)
	}
	return nil
}

// DeleteLink removes the network device name if it exists: a TUN device
// that some process still holds open (a helper's engine that outlived it)
// goes with it.
func DeleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if isLinkGone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete device %s: %w", name, err)
	}
	return nil
}
