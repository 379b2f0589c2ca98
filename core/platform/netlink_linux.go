package platform

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netlinkOps is linkOps over rtnetlink, as `ip link/addr/route` would do it.
type netlinkOps struct {
	table int // routing table of the routes; 0 is the main table
}

var _ linkOps = netlinkOps{}

func (netlinkOps) linkUp(dev string, mtu int) error {
	l, err := netlink.LinkByName(dev)
	if err != nil {
		return err
	}
	if mtu != 0 && l.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("set MTU %d: %w", mtu, err)
		}
	}
	return netlink.LinkSetUp(l)
}

func (netlinkOps) addrAdd(dev string, p netip.Prefix) error {
	l, err := netlink.LinkByName(dev)
	if err != nil {
		return err
	}
	err = netlink.AddrAdd(l, nlAddr(p))
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

func (netlinkOps) addrDel(dev string, p netip.Prefix) error {
	l, err := netlink.LinkByName(dev)
	if isLinkGone(err) {
		return nil // the address went with the device
	}
	if err != nil {
		return err
	}
	err = netlink.AddrDel(l, nlAddr(p))
	if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENODEV) {
		return nil
	}
	return err
}

func (o netlinkOps) routeAdd(dev string, p netip.Prefix) error {
	l, err := netlink.LinkByName(dev)
	if err != nil {
		return err
	}
	err = netlink.RouteAdd(nlRoute(l, p, o.table))
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

func (o netlinkOps) routeDel(dev string, p netip.Prefix) error {
	l, err := netlink.LinkByName(dev)
	if isLinkGone(err) {
		return nil // the route went with the device
	}
	if err != nil {
		return err
	}
	err = netlink.RouteDel(nlRoute(l, p, o.table))
	if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENODEV) {
		return nil
	}
	return err
}

func isLinkGone(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// nlAddr is p as a device address. IPv6 addresses skip duplicate address
// detection: nothing else is on a TUN link, and DAD would leave the address
// unusable for a second or so after Apply.
func nlAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: ipNet(p)}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

// nlRoute is the route of p to link in table (0: main), scoped as `ip route
// add P dev D` would scope it: link for IPv4 without a gateway, universe
// for IPv6.
func nlRoute(l netlink.Link, p netip.Prefix, table int) *netlink.Route {
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(p.Masked()), Table: table}
	if p.Addr().Is4() {
		r.Scope = netlink.SCOPE_LINK
	}
	return r
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{
		IP:   net.IP(p.Addr().AsSlice()),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}
}
