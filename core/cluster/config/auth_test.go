package config

import (
	"strings"
	"testing"
	"time"
)

func TestAuthServiceCertTTL(t *testing.T) {
	const base = "proxy_service: {public_addr: proxy.example.test:3080}\n"
	tests := []struct {
		name, yaml string
		want       time.Duration
		err        string
	}{
		{name: "default", yaml: base, want: 0},
		{name: "hours", yaml: base + "auth_service: {cert_ttl: 8h}\n", want: 8 * time.Hour},
		{name: "shortest", yaml: base + "auth_service: {cert_ttl: 1m}\n", want: time.Minute},
		{name: "too short", yaml: base + "auth_service: {cert_ttl: 30s}\n", err: "auth_service.cert_ttl: 30s is out of range"},
		{name: "too long", yaml: base + "auth_service: {cert_ttl: 721h}\n", err: "auth_service.cert_ttl: 721h0m0s is out of range"},
		{name: "negative", yaml: base + "auth_service: {cert_ttl: -1h}\n", err: "out of range"},
		{name: "not a duration", yaml: base + "auth_service: {cert_ttl: soon}\n", err: `"soon" is not a duration`},
		{name: "unknown field", yaml: base + "auth_service: {ttl: 1h}\n", err: "ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse = %v; want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Auth.CertTTL != tt.want {
				t.Errorf("cert_ttl = %v, want %v", f.Auth.CertTTL, tt.want)
			}
		})
	}
}

func TestAuthServiceAuditRetention(t *testing.T) {
	const base = "proxy_service: {public_addr: proxy.example.test:3080}\n"
	for _, tt := range []struct {
		name, yaml string
		want       time.Duration
		err        string
	}{
		{name: "default (the audit log's 90 days)", yaml: base, want: 0},
		{name: "30 days", yaml: base + "auth_service: {audit_retention: 720h}\n", want: 720 * time.Hour},
		{name: "too short", yaml: base + "auth_service: {audit_retention: 10m}\n", err: "auth_service.audit_retention: 10m0s is too short"},
		{name: "negative", yaml: base + "auth_service: {audit_retention: -1h}\n", err: "auth_service.audit_retention"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.yaml))
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse = %v; want an error containing %q", err, tt.err)
				}
			case err != nil:
				t.Fatal(err)
			case f.Auth.AuditRetention != tt.want:
				t.Errorf("audit_retention = %v, want %v", f.Auth.AuditRetention, tt.want)
			}
		})
	}
}

// TestAuthServiceMachineCertTTL: machine certificates live 24h at most;
// seconds are allowed (tests renew within them).
func TestAuthServiceMachineCertTTL(t *testing.T) {
	const base = "proxy_service: {public_addr: proxy.example.test:3080}\n"
	for _, tt := range []struct {
		name, yaml string
		want       time.Duration
		err        string
	}{
		{name: "default (24h)", yaml: base, want: 0},
		{name: "hours", yaml: base + "auth_service: {machine_cert_ttl: 8h}\n", want: 8 * time.Hour},
		{name: "seconds", yaml: base + "auth_service: {machine_cert_ttl: 5s}\n", want: 5 * time.Second},
		{name: "too short", yaml: base + "auth_service: {machine_cert_ttl: 1s}\n", err: "auth_service.machine_cert_ttl: 1s is out of range"},
		{name: "longer than a day", yaml: base + "auth_service: {machine_cert_ttl: 25h}\n", err: "auth_service.machine_cert_ttl: 25h0m0s is out of range"},
		{name: "negative", yaml: base + "auth_service: {machine_cert_ttl: -1h}\n", err: "out of range"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse = %v; want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Auth.MachineCertTTL != tt.want {
				t.Errorf("machine_cert_ttl = %v, want %v", f.Auth.MachineCertTTL, tt.want)
			}
		})
	}
}
