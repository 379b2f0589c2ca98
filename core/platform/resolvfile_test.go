package platform

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const origResolv = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n"

// tempResolvConf writes content to a fresh temporary resolv.conf.
func tempResolvConf(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOriginalResolvConf(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"plain file", origResolv, origResolv},
		{"left by a dead VNet", string(wrapResolvConf([]byte(origResolv), 12345, testNS)), origResolv},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OriginalResolvConf(tempResolvConf(t, tt.content))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("OriginalResolvConf = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := OriginalResolvConf(filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want ErrNotExist", err)
		}
	})
}

func TestRestoreStale(t *testing.T) {
	tests := []struct {
		name    string
		pid     func(t *testing.T) int // writer of the VNet file; nil: plain file
		wantErr error
		want    string // file afterwards; "" means unchanged
	}{
		{name: "not VNet's", want: ""},
		{name: "writer died", pid: deadPID, want: origResolv},
		{name: "writer is this process", pid: func(*testing.T) int { return os.Getpid() }, want: ""},
		{name: "writer still running", pid: func(t *testing.T) int { return holdPID(t, true) }, wantErr: ErrResolvConfInUse},
		{name: "pid reused by another program", pid: func(t *testing.T) int { return holdPID(t, false) }, want: origResolv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := origResolv
			if tt.pid != nil {
				content = string(wrapResolvConf([]byte(origResolv), tt.pid(t), testNS))
			}
			path := tempResolvConf(t, content)
			before, _ := os.Stat(path)
			err := RestoreStale(path)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RestoreStale error = %v, want %v", err, tt.wantErr)
			}
			want := tt.want
			if want == "" {
				want = content
			}
			if got := readFile(t, path); got != want {
				t.Errorf("file after RestoreStale = %q, want %q", got, want)
			}
			if after, _ := os.Stat(path); !os.SameFile(before, after) {
				t.Error("RestoreStale replaced the file instead of writing it in place")
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if err := RestoreStale(filepath.Join(t.TempDir(), "nope")); err != nil {
			t.Errorf("RestoreStale of a missing file = %v, want nil", err)
		}
	})
}

func TestProcessAlive(t *testing.T) {
	tests := []struct {
		name string
		pid  func(t *testing.T) int
		want bool
	}{
		{"self", func(*testing.T) int { return os.Getpid() }, true},
		{"zero", func(*testing.T) int { return 0 }, false},
		{"negative", func(*testing.T) int { return -1 }, false},
		{"dead", deadPID, false},
		{"same program", func(t *testing.T) int { return holdPID(t, true) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := processAlive(tt.pid(t)); got != tt.want {
				t.Errorf("processAlive = %v, want %v", got, tt.want)
			}
		})
	}
}
