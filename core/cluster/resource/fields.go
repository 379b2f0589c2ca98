package resource

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds the work of fieldChecker: aliases let a small document
// describe a very large tree.
const maxNodes = 100_000

// fieldChecker walks a YAML tree against the Go type it will be decoded
// into and reports the first unknown field or misplaced value by its path
// (spec.custom_dns_zones[1].sufix), which is what a user needs to find it.
type fieldChecker struct {
	kind, name string
	visited    int
}

func (c *fieldChecker) fail(path, format string, args ...any) error {
	return newError(c.kind, c.name, path, format, args...)
}

func typeOf(r Resource) reflect.Type {
	t := reflect.TypeOf(r)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func isNilPointer(r Resource) bool {
	v := reflect.ValueOf(r)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

func (c *fieldChecker) check(n *yaml.Node, t reflect.Type, path string) error {
	if c.visited++; c.visited > maxNodes {
		return c.fail("", "document too large (more than %d nodes after expanding aliases)", maxNodes)
	}
	n = resolveAlias(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isNull(n) {
		return nil // decodes to the zero value; validation decides if that is allowed
	}
	if t.Implements(scalarOrListType) {
		return c.scalarOrList(n, path)
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		// A struct written as one value, such as time.Time.
		if n.Kind != yaml.ScalarNode {
			return c.fail(path, "expected a single value, got %s", describe(n))
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return c.fail(path, "expected a mapping, got %s", describe(n))
		}
		fields := structFields(t)
		return c.mapping(n, path, func(key string, v *yaml.Node, p string) error {
			ft, ok := fields[key]
			if !ok {
				return c.fail(p, "unknown field (known: %s)", strings.Join(sortedKeys(fields), ", "))
			}
			return c.check(v, ft, p)
		}, func(merged *yaml.Node) error { return c.check(merged, t, path) })
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return c.fail(path, "expected a mapping, got %s", describe(n))
		}
		return c.mapping(n, path, func(key string, v *yaml.Node, _ string) error {
			return c.check(v, t.Elem(), fmt.Sprintf("%s[%q]", path, key))
		}, func(merged *yaml.Node) error { return c.check(merged, t, path) })
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return c.fail(path, "expected a list, got %s", describe(n))
		}
		for i, item := range n.Content {
			if err := c.check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Interface:
		return nil
	default: // string, number, bool
		if n.Kind != yaml.ScalarNode {
			return c.fail(path, "expected a single value, got %s", describe(n))
		}
		return nil
	}
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// scalarOrListType is implemented by list types whose YAML may also be a
// single value (LabelValues).
var scalarOrListType = reflect.TypeFor[interface{ scalarOrList() }]()

func (c *fieldChecker) scalarOrList(n *yaml.Node, path string) error {
	const want = "expected a value or a list of values, got %s"
	switch n.Kind {
	case yaml.ScalarNode:
		return nil
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if item = resolveAlias(item); item.Kind != yaml.ScalarNode || isNull(item) {
				return c.fail(fmt.Sprintf("%s[%d]", path, i), "expected a single value, got %s", describe(item))
			}
		}
		return nil
	default:
		return c.fail(path, want, describe(n))
	}
}

// mapping calls field for each key of mapping node n and merge for each
// mapping merged in with "<<".
func (c *fieldChecker) mapping(n *yaml.Node, path string, field func(key string, v *yaml.Node, path string) error, merge func(*yaml.Node) error) error {
	seen := make(map[string]int) // key -> line
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return c.fail(path, "expected a name as key, got %s", describe(k))
		}
		if line, dup := seen[k.Value]; dup && k.ShortTag() != "!!merge" {
			return c.fail(joinPath(path, k.Value), "defined twice (lines %d and %d)", line, k.Line)
		}
		seen[k.Value] = k.Line
		if k.ShortTag() == "!!merge" {
			v = resolveAlias(v)
			merged := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				merged = v.Content
			}
			for _, m := range merged {
				if err := merge(m); err != nil {
					return err
				}
			}
			continue
		}
		if err := field(k.Value, v, joinPath(path, k.Value)); err != nil {
			return err
		}
	}
	return nil
}

// joinPath appends a field name to a path, quoting names that would make
// the path ambiguous or span lines.
func joinPath(path, name string) string {
	if !isPlainName(name) {
		name = fmt.Sprintf("%q", name)
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

func isPlainName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// structFields maps the YAML keys of struct t (with inline structs
// flattened) to their types.
func structFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(opts, ","), "inline") {
			for k, v := range structFields(f.Type) {
				fields[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default key
		}
		fields[name] = f.Type
	}
	return fields
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
