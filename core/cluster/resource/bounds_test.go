package resource

import (
	"fmt"
	"strings"
	"testing"
)

// TestHugeFieldsGiveABoundedError: an app (as an agent announces it,
// without the YAML size limit) with a huge name, URI or public address is
// refused with one short line that names the field.
func TestHugeFieldsGiveABoundedError(t *testing.T) {
	huge := strings.Repeat("a", 1<<20)
	for _, tc := range []struct {
		name, want string
		app        *App
	}{
		{"name", "metadata.name", NewApp(huge, "tcp://db:5432", "", nil)},
		{"uri", "spec.uri: is too long (1048582 bytes, at most 512)", NewApp("db", "tcp://"+huge, "", nil)},
		{"public_addr", "spec.public_addr", NewApp("db", "tcp://db:5432", huge+".test", nil)},
		{"label value", `metadata.labels["k"]: the key or the value is too long`, NewApp("db", "tcp://db:5432", "", map[string]string{"k": huge})},
		{"label key", "the key or the value is too long", NewApp("db", "tcp://db:5432", "", map[string]string{huge: "v"})},
		{"many labels", "metadata.labels: 65 labels, at most 64", NewApp("db", "tcp://db:5432", "", func() map[string]string {
			m := map[string]string{}
			for i := 0; i <= maxLabels; i++ {
				m[strings.Repeat("k", i+1)] = "v"
			}
			return m
		}())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.app.CheckAndSetDefaults()
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || len(err.Error()) > 1024 || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error (%d bytes) %.300v; want one short line with %q", len(err.Error()), err, tc.want)
			}
		})
	}
}

func TestHugeUserNameGivesABoundedError(t *testing.T) {
	err := CheckUserName(strings.Repeat("a", 1<<20))
	if err == nil || len(err.Error()) > 1024 {
		t.Fatalf("CheckUserName of 1 MiB: an error of %d bytes, want a short one", len(fmt.Sprint(err)))
	}
}
