package fence

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the repository, seen from this package's folder (go test
// runs a package's tests in its folder).
const repoRoot = "../.."

// backticked finds `code` spans in a line of Markdown.
var backticked = regexp.MustCompile("`([^`]+)`")

// layoutTable returns the README's "## Layout" table: each row's folders
// (the code spans of its first column) and the text of its second.
func layoutTable(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no '## Layout' section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(line, "|") {
			continue
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			rows[m[1]] = cells[2]
		}
	}
	if len(rows) == 0 {
		t.Fatal("README.md's layout table lists no folder")
	}
	return rows
}

// hasGo says whether dir or a folder below it holds Go files.
func hasGo(dir string) bool {
	found := false
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(d.Name(), ".go") {
			found = true
			return fs.SkipAll
		}
		return nil
	})
	return found
}

// goDirs returns the folders right below dir (relative to the
// repository) that hold Go code.
func goDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot, dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "testdata" && hasGo(filepath.Join(repoRoot, dir, e.Name())) {
			out = append(out, filepath.ToSlash(filepath.Join(dir, e.Name())))
		}
	}
	return out
}

// TestReadmeLayoutMatchesTree fails when README.md's layout table and the
// tree part: a listed folder that does not exist, a folder of Go code
// (right below core/, core/cluster/, or the bridge) that is not listed.
func TestReadmeLayoutMatchesTree(t *testing.T) {
	rows := layoutTable(t)
	var listed []string
	for folder := range rows {
		dir := strings.TrimSuffix(folder, "/...")
		if fi, err := os.Stat(filepath.Join(repoRoot, dir)); err != nil || !fi.IsDir() {
			t.Errorf("README.md lists %s, which is not a folder of the repository", folder)
		}
		listed = append(listed, dir)
	}
	covers := func(dir string) bool {
		return slices.ContainsFunc(listed, func(l string) bool { return l == dir || strings.HasPrefix(l, dir+"/") })
	}
	for _, dir := range append(goDirs(t, "core"), "bridge") {
		if !covers(dir) {
			t.Errorf("%s holds Go code but README.md's layout table does not list it", dir)
		}
	}
	// The server's packages share one row, each named in its text.
	text, ok := rows["core/cluster/..."]
	if !ok {
		t.Fatal("README.md's layout table has no core/cluster/... row")
	}
	for _, dir := range goDirs(t, "core/cluster") {
		if name := filepath.Base(dir); !strings.Contains(text, "`"+name+"`") {
			t.Errorf("%s holds Go code but the core/cluster/... row of README.md does not name `%s`", dir, name)
		}
	}
}
