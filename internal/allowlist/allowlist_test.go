package allowlist

import (
	"net/netip"
	"testing"

	"github.com/pocketbase/pocketbase/tests"
)

func TestSuperuserAllowed(t *testing.T) {
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()

	scenarios := []struct {
		name    string
		allowed []string
		ip      string
		want    bool
	}{
		{"empty list allows all", nil, "203.0.113.9", true},
		{"single address", []string{"127.0.0.1"}, "127.0.0.1", true},
		{"other address", []string{"127.0.0.1"}, "127.0.0.2", false},
		{"inside a range", []string{"10.9.8.0/24"}, "10.9.8.77", true},
		{"outside a range", []string{"10.9.8.0/24"}, "10.9.9.1", false},
		{"IPv4 seen as IPv6", []string{"127.0.0.1"}, "::ffff:127.0.0.1", true},
		{"IPv6 range", []string{"fd00::/8"}, "fd12::1", true},
		{"bad entries are skipped", []string{"not an ip", "127.0.0.1"}, "127.0.0.1", true},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			app.Settings().SuperuserIPs = s.allowed
			if got := SuperuserAllowed(app, netip.MustParseAddr(s.ip)); got != s.want {
				t.Fatalf("got %v, want %v", got, s.want)
			}
		})
	}
}
