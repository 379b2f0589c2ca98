package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	pin := "sha256:" + strings.Repeat("ab", 32)
	apps := "app_service:\n  enabled: true\n  apps:\n    - {name: web, uri: \"tcp://localhost:80\", public_addr: web.company.test}\n"
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"minimal", "proxy_addr: proxy.example.test:3080\n", ""},
		{"full", "version: v1\nproxy_addr: proxy.example.test:3080\njoin_token: abc\nca_pin: " + pin + "\ndata_dir: /tmp/a\n" + apps, ""},
		{"no proxy", "join_token: abc\n", "proxy_addr: required"},
		{"proxy without port", "proxy_addr: proxy.example.test\n", "proxy_addr: \"proxy.example.test\" is not host:port"},
		{"token twice", "proxy_addr: p:1\njoin_token: a\ntoken_file: /x\n", "give one, not both"},
		{"bad pin", "proxy_addr: p:1\nca_pin: md5:abc\n", "ca_pin"},
		{"bad version", "version: v2\nproxy_addr: p:1\n", "version"},
		{"unknown field", "proxy_addr: p:1\nproxy_adr: q:1\n", "proxy_adr"},
		{"bad app uri", "proxy_addr: p:1\napp_service:\n  enabled: true\n  apps:\n    - {name: web, uri: \"http://x:80\"}\n", "app_service.apps[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseConfig([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("ParseConfig = %v, want one line containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.DataDir == "" || f.Version != "v1" {
				t.Fatalf("defaults not set: %+v", f)
			}
		})
	}
}

func TestToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		f       File
		want    string
		wantErr string
	}{
		{"inline", File{JoinToken: "abc"}, "abc", ""},
		{"file, trimmed", File{TokenFile: path}, "s3cret", ""},
		{"missing file", File{TokenFile: path + ".nope"}, "", "token_file"},
		{"none", File{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.f.Token()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Token = %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Token = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
