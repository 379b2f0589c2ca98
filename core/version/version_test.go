package version

import (
	"os"
	"regexp"
	"testing"
)

// The Mac app's version is written in the Xcode project, which cannot
// import Go: it must say the same.
func TestSwiftProjectSaysTheSame(t *testing.T) {
	yml, err := os.ReadFile("../../swift/project.yml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*MARKETING_VERSION:\s*"?([^"\s]+)"?\s*$`).FindSubmatch(yml)
	if m == nil {
		t.Fatal("swift/project.yml has no MARKETING_VERSION")
	}
	if got := string(m[1]); got != Number {
		t.Errorf("swift/project.yml MARKETING_VERSION = %q, core/version.Number = %q: change both", got, Number)
	}
}
