package privsep

import (
	"errors"
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/platform"
)

// The kernel's reverse-path check (net.ipv4.conf.*.rp_filter) looks up the
// source of each packet that arrives, as uid 0 from lo, to the address it
// was sent to: a reply from an app arrives on VNet's device from the app's
// address, and uid 0 has no route there (VNet's routes are the VNet user's),
// so strict mode (1) drops it, and loose mode (2) too when the host has no
// default route. A rule for uid 0 limited to packets from the device's own
// addresses (`iif lo from A uidrange 0-0 lookup 7353`) answers that lookup
// with VNet's route through the device, and the check passes in either
// mode. The same lookup serves the kernel's own replies from those
// addresses (TCP resets, ICMP errors), which now leave through the device
// instead of the default route. Other users gain nothing; root gains a
// route for sockets it binds to the device's address, which the device's
// guard (platform.DeviceGuard) still drops.

// sourceRules are the rules for the reverse-path lookups of set's device
// addresses; none when the VNet user is root (its rules match already).
func sourceRules(set netcfg.Settings, uid uint32) []platform.UIDRule {
	if uid == 0 {
		return nil
	}
	var out []platform.UIDRule
	for _, a := range []netip.Addr{set.TunAddr4, set.TunAddr6} {
		if !a.IsValid() {
			continue
		}
		a = a.Unmap().WithZone("")
		fam := unix.AF_INET
		if a.Is6() {
			fam = unix.AF_INET6
		}
		out = append(out, platform.UIDRule{Family: fam, Priority: RulePriority, Table: RouteTable, UID: 0, From: netip.PrefixFrom(a, a.BitLen())})
	}
	return out
}

// setSourceRules makes the session's source rules those of set: the new
// ones are listed in the state file before they are added, the old ones
// leave it after they are deleted.
func (s *session) setSourceRules(set netcfg.Settings) error {
	want := sourceRules(set, s.uid)
	var stale []platform.UIDRule
	all := slices.Clone(s.st.Rules)
	for _, r := range s.st.Rules {
		if r.From.IsValid() && !slices.Contains(want, r) {
			stale = append(stale, r)
		}
	}
	for _, r := range want {
		if !slices.Contains(all, r) {
			all = append(all, r)
		}
	}
	if len(all) != len(s.st.Rules) {
		s.st.Rules = all
		if err := writeState(s.statePath, s.st); err != nil {
			return err
		}
	}
	for _, r := range want {
		if err := platform.AddUIDRule(r); err != nil {
			return err
		}
	}
	if len(stale) == 0 {
		return nil
	}
	var errs []error
	for _, r := range stale {
		errs = append(errs, platform.DelUIDRule(r))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.st.Rules = slices.DeleteFunc(s.st.Rules, func(r platform.UIDRule) bool { return slices.Contains(stale, r) })
	return writeState(s.statePath, s.st)
}
