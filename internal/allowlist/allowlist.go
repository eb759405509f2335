// Package allowlist applies PocketBase's superuser IP allow-list to the
// entrances arrow-mino adds beside PocketBase's own API: the web
// interface and the Flight SQL server.
package allowlist

import (
	"net/netip"

	"github.com/pocketbase/pocketbase/core"
)

// SuperuserAllowed reports whether a superuser may connect from ip. An
// empty list in the app's settings allows every address; entries are
// single addresses or CIDR ranges, as in PocketBase's settings.
func SuperuserAllowed(app core.App, ip netip.Addr) bool {
	allowed := app.Settings().SuperuserIPs
	if len(allowed) == 0 {
		return true
	}

	ip = ip.Unmap()
	for _, item := range allowed {
		if prefix, err := netip.ParsePrefix(item); err == nil && prefix.Contains(ip) {
			return true
		}
		if addr, err := netip.ParseAddr(item); err == nil && addr == ip {
			return true
		}
	}
	return false
}
