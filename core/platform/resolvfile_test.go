package platform

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// envRewritePath names the file a "rewrite" helper process rewrites.
const envRewritePath = "VNET_PLATFORM_TEST_REWRITE"

// rewriteContents are what a "rewrite" helper alternates between: VNet's
// file and the original it restores (shorter, so every restore shrinks the
// file, the write that O_TRUNC made unsafe).
var rewriteContents = [][]byte{wrapResolvConf([]byte(origResolv), 4242, testNS), []byte(origResolv)}

func rewriteForever(path string) {
	for i := 0; ; i++ {
		if err := writeInPlace(path, rewriteContents[i%2]); err != nil {
			os.Exit(3)
		}
	}
}

// TestWriteInPlaceSurvivesKill kills a process that rewrites resolv.conf
// in place, many times, at arbitrary moments: the file must always say
// what one of the two contents says (at most with a trailing comment),
// never be empty or cut. A helper killed while it restored the original
// left an empty resolv.conf: no DNS, and the next start failed with
// "no nameserver in resolv.conf".
func TestWriteInPlaceSurvivesKill(t *testing.T) {
	path := tempResolvConf(t, string(rewriteContents[0]))
	for round := range 30 {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(helperEnv("rewrite"), envRewritePath+"="+path)
		if err := cmd.Start(); err != nil {
			t.Fatalf("helper process: %v", err)
		}
		time.Sleep(time.Duration(5+round%7) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		got := readFile(t, path)
		if !sameResolvConf(got) {
			t.Fatalf("round %d: after kill -9 resolv.conf is %q", round, got)
		}
	}
}

// sameResolvConf reports whether got is one of rewriteContents, possibly
// followed by one comment line (inPlaceFirstWrite's padding).
func sameResolvConf(got string) bool {
	for _, c := range rewriteContents {
		rest, ok := strings.CutPrefix(got, string(c))
		if ok && (rest == "" || strings.HasPrefix(rest, "#") && !strings.Contains(rest, "\n")) {
			return true
		}
	}
	return false
}

func TestInPlaceFirstWrite(t *testing.T) {
	tests := []struct {
		name   string
		b      string
		oldLen int64
		want   string
	}{
		{"longer than the old", "nameserver 1.1.1.1\n", 5, "nameserver 1.1.1.1\n"},
		{"same length", "abc\n", 4, "abc\n"},
		{"shorter: a comment covers the rest", "ns\n", 8, "ns\n#    "},
		{"one byte shorter", "ns\n", 4, "ns\n#"},
		{"no newline at the end", "ns", 6, "ns\n#  "},
		{"no newline, one byte shorter", "ns", 3, "ns\n"},
		{"empty original", "", 4, "#   "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(inPlaceFirstWrite([]byte(tt.b), tt.oldLen)); got != tt.want {
				t.Errorf("inPlaceFirstWrite(%q, %d) = %q, want %q", tt.b, tt.oldLen, got, tt.want)
			}
		})
	}
}
