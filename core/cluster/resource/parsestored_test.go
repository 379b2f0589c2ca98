package resource

import (
	"errors"
	"strings"
	"testing"
)

// TestParseStoredRefusesWhatParseRefuses: ParseStored skips Parse's second
// decode, not its checks: unknown fields, a bad value and a second
// document are refused as by Parse.
func TestParseStoredRefusesWhatParseRefuses(t *testing.T) {
	for _, in := range []string{
		appYAML("  uri: tcp://localhost:1\n  bogus: 1\n"),
		"kind: app\nversion: v1\nmetadata: {name: a, extra: x}\nspec: {uri: tcp://h:1}\n",
		appYAML("  uri: http://localhost\n"),
		appYAML("  uri: tcp://localhost:1\n") + "---\n" + appYAML("  uri: tcp://localhost:2\n"),
	} {
		_, want := Parse([]byte(in))
		_, got := ParseStored([]byte(in))
		if want == nil || got == nil || !errors.Is(got, ErrInvalid) || got.Error() != want.Error() {
			t.Errorf("input:\n%s\nParseStored: %v\nParse:       %v", strings.TrimSpace(in), got, want)
		}
	}
}
