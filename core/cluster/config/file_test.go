package config

import (
	"regexp"
	"strings"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/resource"
)

var goType = regexp.MustCompile(`\b(config|resource)\.[A-Z]`)

// TestFileMistakes: the usual mistakes in cluster.yaml are refused with
// one line that names the setting, never a Go type (issue 14).
func TestFileMistakes(t *testing.T) {
	const pub = "proxy_service:\n  public_addr: proxy.example.test:3080\n"
	for _, tc := range []struct {
		name, yaml string
		err        string // "" for valid
	}{
		{"empty file", "", "the file is empty"},
		{"blank lines", "\n  \n", "the file is empty"},
		{"only comments", "# cluster.yaml\n", "holds no settings, only comments"},
		{"second document", pub + "---\ncluster_name: other\n", "more than one YAML document"},
		{"second empty document", pub + "---\n", ""},
		{"service name in listen_addr", pub + "  listen_addr: 127.0.0.1:http-alt\n", `proxy_service.listen_addr: "127.0.0.1:http-alt": the port "http-alt" is not a number`},
		{"service name in public_addr", "proxy_service:\n  public_addr: proxy.example.test:https\n", `proxy_service.public_addr: "proxy.example.test:https": the port "https" is not a number`},
		{"public_addr port 0", "proxy_service:\n  public_addr: proxy.example.test:0\n", "proxy_service.public_addr: \"proxy.example.test:0\": port 0 cannot be dialled"},
		{"public_addr without host", "proxy_service:\n  public_addr: :3080\n", `proxy_service.public_addr: ":3080" has no host`},
		{"port out of range", pub + "  listen_addr: 0.0.0.0:70000\n", "is not a number from 1 to 65535"},
		{"listen_addr port 0 is any port", pub + "  listen_addr: 127.0.0.1:0\n", ""},
		{"peer_addr port 0", pub + "  peer_addr: 10.0.0.1:0\n", "proxy_service.peer_addr"},
		{"unknown field", pub + "  listen_adr: 0.0.0.0:3080\n", "line 3: field listen_adr is not a setting here"},
		{"wrong type", pub + "auth_service:\n  cert_ttl: soon\n", `line 4: "soon" is not a duration`},
		{"mapping for a list", pub + "app_service:\n  apps: {name: a}\n", "line 4: this mapping is not a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Parse = %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Parse = %v; want an error containing %q", err, tc.err)
			}
			if err != nil && (goType.MatchString(err.Error()) || strings.Contains(err.Error(), "time.Duration") || strings.Contains(err.Error(), "\n")) {
				t.Errorf("error %q names a Go type or has several lines", err)
			}
		})
	}
}

// TestStaticAppsAreMarked: cluster.yaml's apps say where they come from,
// so that 'vnet ctl edit' and 'rm' can refuse them; the API refuses an
// app that claims that origin.
func TestStaticAppsAreMarked(t *testing.T) {
	f, err := Parse([]byte("proxy_service: {public_addr: proxy.example.test:3080}\napp_service:\n  enabled: true\n  apps:\n  - {name: a, uri: 'tcp://h:1'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	apps, err := f.StaticApps()
	if err != nil || len(apps) != 1 || apps[0].Metadata.Origin != resource.OriginConfig {
		t.Fatalf("StaticApps = %+v, %v; want one app with origin config", apps, err)
	}
	if err := apps[0].CheckNew(); err == nil || !strings.Contains(err.Error(), "defined in cluster.yaml: change it there") {
		t.Errorf("CheckNew of an app with origin config = %v; want a refusal", err)
	}
}

func TestNoAppsReason(t *testing.T) {
	for _, tc := range []struct {
		a    AppService
		want string
	}{
		{AppService{}, "app_service.enabled is not true and app_service.apps is empty"},
		{AppService{Apps: []StaticApp{{Name: "a"}}}, "app_service.enabled is not true: its 1 app(s) are not served"},
		{AppService{Enabled: true}, "app_service.apps is empty"},
		{AppService{Enabled: true, Apps: []StaticApp{{Name: "a"}}}, ""},
	} {
		if got := tc.a.NoAppsReason(); got != tc.want {
			t.Errorf("NoAppsReason(%+v) = %q, want %q", tc.a, got, tc.want)
		}
	}
}
