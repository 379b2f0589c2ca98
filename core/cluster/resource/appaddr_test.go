package resource

import (
	"strings"
	"testing"
)

func TestAppCheckNew(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		name       string
		app        string
		publicAddr string
		want       string // "" for valid; else the whole message
	}{
		{"label", "tcp-app", "", ""},
		{"digits", "123", "", ""},
		{"63 bytes", long[:63], "", ""},
		{"underscore", "my_app", "", `app "my_app": metadata.name "my_app" is not a DNS label (it contains '_'; use letters, digits and '-'): set spec.public_addr or rename the app`},
		{"dot", "db.main", "", `app "db.main": metadata.name "db.main" is not a DNS label (it contains '.'; use letters, digits and '-'): set spec.public_addr or rename the app`},
		{"trailing hyphen", "db-", "", `app "db-": metadata.name "db-" is not a DNS label (it starts or ends with '-'): set spec.public_addr or rename the app`},
		{"64 bytes", long, "", `app "` + long + `": metadata.name "` + long + `" is not a DNS label (64 bytes, at most 63): set spec.public_addr or rename the app`},
		{"underscore with public_addr", "my_app", "db.company.test", ""},
		{"dot with public_addr", "db.main", "db.company.test", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewApp(tt.app, "tcp://localhost:5432", tt.publicAddr, nil)
			if err := a.CheckAndSetDefaults(); err != nil {
				t.Fatalf("CheckAndSetDefaults: %v (the name rule must not be part of it)", err)
			}
			err := a.CheckNew()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckNew = %v, want nil", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("CheckNew = %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestAppAddr(t *testing.T) {
	tests := []struct {
		name, app, publicAddr, proxy, want string
	}{
		{"default", "tcp-app", "", "proxy.example.test:3080", "tcp-app.proxy.example.test"},
		{"default, proxy host in capitals with a dot", "db", "", "Proxy.Example.Test.:443", "db.proxy.example.test"},
		{"bare proxy host", "db", "", "proxy.example.test", "db.proxy.example.test"},
		{"public_addr wins", "db", "DB.Company.Test.", "proxy.example.test:3080", "db.company.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewApp(tt.app, "tcp://localhost:5432", tt.publicAddr, nil)
			if got := a.Addr(ProxyHost(tt.proxy)); got != tt.want {
				t.Fatalf("Addr = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckAddrFree(t *testing.T) {
	const proxy = "proxy.test"
	stored := []*App{
		NewApp("a", "tcp://h:1", "db.company.test", nil),
		NewApp("web", "tcp://h:2", "", nil), // web.proxy.test
	}
	for _, a := range stored {
		if err := a.CheckAndSetDefaults(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, app, publicAddr string
		want                  string // "" when free
	}{
		{"free", "b", "other.company.test", ""},
		{"same app again", "a", "db.company.test", ""},
		{"taken", "b", "db.company.test", `app "b": spec.public_addr "db.company.test" is already the address of app "a"`},
		{"taken, other case and a trailing dot", "b", "DB.company.TEST.", `app "b": spec.public_addr "db.company.test" is already the address of app "a"`},
		{"public_addr on a default address", "b", "web.proxy.test", `app "b": spec.public_addr "web.proxy.test" is already the address of app "web"`},
		{"default address on a public_addr", "db", "", ""},
		{"the proxy's own host", "b", "proxy.test", `app "b": spec.public_addr "proxy.test" is the proxy's own address: set another spec.public_addr`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewApp(tt.app, "tcp://h:3", tt.publicAddr, nil)
			if err := a.CheckAndSetDefaults(); err != nil {
				t.Fatal(err)
			}
			err := CheckAddrFree(a, stored, proxy)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckAddrFree = %v, want nil", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("CheckAddrFree = %v\nwant %s", err, tt.want)
			}
		})
	}
	// A default address taken by another app's public_addr.
	holder := NewApp("x", "tcp://h:1", "db.proxy.test", nil)
	err := CheckAddrFree(NewApp("db", "tcp://h:1", "", nil), []*App{holder}, proxy)
	if want := `app "db": its default address "db.proxy.test" (no spec.public_addr) is already the address of app "x"`; err == nil || err.Error() != want {
		t.Fatalf("CheckAddrFree = %v\nwant %s", err, want)
	}
}
