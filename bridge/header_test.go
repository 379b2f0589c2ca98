package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// cDecl matches a function declaration of vnet.h: return type, name, and
// parameters, on one line.
var cDecl = regexp.MustCompile(`(?m)^(int64_t|int|void)\s+(vnet_\w+)\(([^)]*)\);`)

// headerFuncs are the functions vnet.h declares, with their return type and
// parameter count.
func headerFuncs(t *testing.T) map[string][2]string {
	t.Helper()
	h, err := os.ReadFile("vnet.h")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]string{}
	for _, m := range cDecl.FindAllStringSubmatch(string(h), -1) {
		out[m[2]] = [2]string{m[1], countParams(m[3])}
	}
	return out
}

func countParams(list string) string {
	if strings.TrimSpace(list) == "" || strings.TrimSpace(list) == "void" {
		return "0"
	}
	return strconv.Itoa(strings.Count(list, ",") + 1)
}

// The hand-written header is the contract; the Go side must export exactly
// its functions, with the same return types and parameter counts.
func TestHeaderMatchesExports(t *testing.T) {
	want := headerFuncs(t)
	if len(want) < 6 {
		t.Fatalf("found only %d declarations in vnet.h: %v", len(want), want)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "exports.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]string{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Doc == nil {
			continue
		}
		for _, c := range fn.Doc.List {
			name, ok := strings.CutPrefix(c.Text, "//export ")
			if !ok {
				continue
			}
			if name != fn.Name.Name {
				t.Errorf("//export %s on func %s", name, fn.Name.Name)
			}
			ret := "void"
			if fn.Type.Results != nil {
				ret = strings.TrimPrefix(types(fn.Type.Results), "C.")
			}
			n := 0
			for _, p := range fn.Type.Params.List {
				n += len(p.Names)
			}
			got[name] = [2]string{ret, strconv.Itoa(n)}
		}
	}
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("vnet.h declares %s; exports.go does not export it", name)
		} else if g != w {
			t.Errorf("%s: Go returns %s with %s parameters, vnet.h says %s with %s", name, g[0], g[1], w[0], w[1])
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("exports.go exports %s, which vnet.h does not declare", name)
		}
	}
}

func types(fl *ast.FieldList) string {
	var out []string
	for _, f := range fl.List {
		if sel, ok := f.Type.(*ast.SelectorExpr); ok {
			out = append(out, sel.X.(*ast.Ident).Name+"."+sel.Sel.Name)
		}
	}
	return strings.Join(out, ",")
}

// The numbers vnet.h promises are the ones the Go side uses.
func TestHeaderConstants(t *testing.T) {
	h, err := os.ReadFile("vnet.h")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{
		"VNET_INJECT_MAX":          injectMax,
		"VNET_SETTINGS_TIMEOUT_MS": settingsTimeout.Milliseconds(),
	} {
		m := regexp.MustCompile(`(?m)^#define ` + name + ` (\d+)$`).FindSubmatch(h)
		if m == nil {
			t.Errorf("vnet.h does not define %s", name)
			continue
		}
		if got, _ := strconv.ParseInt(string(m[1]), 10, 64); got != want {
			t.Errorf("vnet.h: %s %d; the Go side uses %d", name, got, want)
		}
	}
}

// vnet.h lists exactly the states vnet_status can report.
func TestHeaderStates(t *testing.T) {
	h, err := os.ReadFile("vnet.h")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"state"\s*\*?\s*\(([^)]*)\)`).FindSubmatch(h)
	if m == nil {
		t.Fatal(`vnet.h does not list the states after "state"`)
	}
	var want []string
	for _, s := range reportedStates {
		want = append(want, string(s))
	}
	if got := strings.Join(strings.Fields(strings.ReplaceAll(string(m[1]), ",", " ")), ", "); got != strings.Join(want, ", ") {
		t.Errorf("vnet.h lists the states %q; vnet_status reports %q", got, strings.Join(want, ", "))
	}
}
