package resource

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxSize bounds the input of Parse: resources are small, and a bound keeps
// a hostile upload from costing the cluster much memory.
const MaxSize = 1 << 20

// Parse reads exactly one resource from data (YAML; JSON is YAML too), picks
// its type by kind, rejects unknown fields and validates it. Errors about the
// input are *ValidationError (errors.Is(err, ErrInvalid)).
func Parse(data []byte) (Resource, error) { return parse(data, true) }

// ParseStored reads a resource as Parse does, for many resources this
// cluster stored (a proxy's catalog cache at start: 100,000 apps, issue
// 13): the tree's field check still refuses unknown fields, but the
// resource is decoded from the tree rather than by a second, strict decode
// of the YAML, which was half of the cost.
func ParseStored(data []byte) (Resource, error) { return parse(data, false) }

func parse(data []byte, strict bool) (Resource, error) {
	if len(data) > MaxSize {
		return nil, newError("", "", "", "resource is %d bytes, more than the limit of %d", len(data), MaxSize)
	}
	root, index, err := parseOneDocument(data)
	if err != nil {
		return nil, err
	}
	kind, err := peekKind(root)
	if err != nil {
		return nil, err
	}
	name := peekName(root)
	r := kinds[kind]()

	// yaml.v3's own unknown-field error names the Go type and a line, not
	// the field path a user edits, so check the tree first; the strict
	// decode below remains the backstop.
	c := fieldChecker{kind: kind, name: name}
	if err := c.check(root, typeOf(r), ""); err != nil {
		return nil, err
	}
	if !strict {
		if err := root.Decode(r); err != nil {
			return nil, newError(kind, name, "", "%s", trimYAMLPrefix(err))
		}
		if err := r.CheckAndSetDefaults(); err != nil {
			return nil, err
		}
		return r, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	for i := 0; i < index; i++ { // skip the empty documents before it
		if err := dec.Decode(new(yaml.Node)); err != nil {
			return nil, newError(kind, name, "", "%s", trimYAMLPrefix(err))
		}
	}
	if err := dec.Decode(r); err != nil {
		return nil, newError(kind, name, "", "%s", trimYAMLPrefix(err))
	}
	if err := r.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	return r, nil
}

// Marshal validates r (so that what it writes parses back) and returns it
// as YAML.
func Marshal(r Resource) ([]byte, error) {
	if r == nil || isNilPointer(r) {
		return nil, errors.New("marshal resource: nil resource")
	}
	if _, ok := kinds[r.Kind()]; !ok {
		return nil, fmt.Errorf("marshal resource: unknown kind %q", r.Kind())
	}
	if err := r.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("marshal %s %q: %w", r.Kind(), r.Name(), err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal %s %q: %w", r.Kind(), r.Name(), err)
	}
	return buf.Bytes(), nil
}

// parseOneDocument returns the root node of the only non-empty YAML
// document in data and the document's index in the stream.
func parseOneDocument(data []byte) (*yaml.Node, int, error) {
	const shape = "expected a resource with kind, version, metadata and spec"
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root *yaml.Node
	index := 0
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, newError("", "", "", "invalid YAML: %s", trimYAMLPrefix(err))
		}
		n := &doc
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			n = n.Content[0]
		}
		if n.Kind == 0 || isNull(n) {
			continue // an empty document, as left by a stray "---"
		}
		if root != nil {
			return nil, 0, newError("", "", "", "more than one YAML document: put one resource in each file")
		}
		root, index = n, i
	}
	if root == nil {
		return nil, 0, newError("", "", "", "empty document: %s", shape)
	}
	root = resolveAlias(root)
	if root.Kind != yaml.MappingNode {
		return nil, 0, newError("", "", "", "%s, got %s", shape, describe(root))
	}
	return root, index, nil
}

// peekKind returns the kind named by the mapping root, if it is known.
func peekKind(root *yaml.Node) (string, error) {
	v := mappingValue(root, "kind")
	if v == nil || isNull(v) || (v.Kind == yaml.ScalarNode && v.Value == "") {
		return "", newError("", "", "kind", "required (one of %s)", kindList())
	}
	if v.Kind != yaml.ScalarNode {
		return "", newError("", "", "kind", "expected a string, got %s", describe(v))
	}
	if _, ok := kinds[v.Value]; !ok {
		return "", newError("", "", "kind", "unknown kind %q (one of %s)", v.Value, kindList())
	}
	return v.Value, nil
}

// peekName returns metadata.name for messages, or "" if there is none or it
// is not a valid name (an invalid name is itself the error to report).
func peekName(root *yaml.Node) string {
	md := mappingValue(root, "metadata")
	if md == nil || md.Kind != yaml.MappingNode {
		return ""
	}
	v := mappingValue(md, "name")
	if v == nil || v.Kind != yaml.ScalarNode || checkResourceName(v.Value) != "" {
		return ""
	}
	return v.Value
}

// mappingValue returns the value of key in mapping node m, following
// aliases, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	m = resolveAlias(m)
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return resolveAlias(m.Content[i+1])
		}
	}
	return nil
}

// resolveAlias follows alias nodes to the node they name. yaml.v3 rejects
// an anchor that contains itself, so the chain ends; the bound is a guard.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "expected X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("%q", v)
	default:
		return "something else"
	}
}

// trimYAMLPrefix returns err's message without yaml.v3's "yaml: " and
// "unmarshal errors:" prefixes; newError puts it on one line.
func trimYAMLPrefix(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	return strings.TrimPrefix(s, "unmarshal errors:")
}
