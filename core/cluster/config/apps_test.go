package config

import (
	"strings"
	"testing"
)

// TestStaticApps: cluster.yaml's apps follow the creation rules of issue 9
// (a name without public_addr is a DNS label; one address, one app).
func TestStaticApps(t *testing.T) {
	const base = "proxy_service: {public_addr: proxy.example.test:3080}\napp_service:\n  enabled: true\n  apps:\n"
	tests := []struct {
		name, apps string
		err        string // "" for valid
	}{
		{name: "two apps", apps: "  - {name: a, uri: 'tcp://h:1', public_addr: db.company.test}\n  - {name: b, uri: 'tcp://h:2'}\n"},
		{name: "name is not a DNS label", apps: "  - {name: my_app, uri: 'tcp://h:1'}\n",
			err: `app_service.apps[0]: app "my_app": metadata.name "my_app" is not a DNS label`},
		{name: "any name with a public_addr", apps: "  - {name: my_app, uri: 'tcp://h:1', public_addr: my-app.company.test}\n"},
		{name: "same public_addr", apps: "  - {name: a, uri: 'tcp://h:1', public_addr: db.company.test}\n  - {name: b, uri: 'tcp://h:2', public_addr: DB.company.test.}\n",
			err: `app_service.apps[1]: app "b": spec.public_addr "db.company.test" is already the address of app "a"`},
		{name: "public_addr on a default address", apps: "  - {name: db, uri: 'tcp://h:1'}\n  - {name: b, uri: 'tcp://h:2', public_addr: db.proxy.example.test}\n",
			err: `app_service.apps[1]: app "b": spec.public_addr "db.proxy.example.test" is already the address of app "db"`},
		{name: "the proxy's host", apps: "  - {name: b, uri: 'tcp://h:2', public_addr: proxy.example.test}\n",
			err: `is the proxy's own address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(base + tt.apps))
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("Parse = %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("Parse = %v; want an error containing %q", err, tt.err)
			}
		})
	}
}
