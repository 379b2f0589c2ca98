package resource

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"
)

// Kinds of resource.
const (
	KindVNetConfig = "vnet_config"
	KindApp        = "app"
	KindRole       = "role"
	KindUser       = "user"
)

// V1 is the only resource version so far.
const V1 = "v1"

// Resource is a validated cluster resource. Implementations are pointers to
// structs whose YAML keys are kind, version, metadata and spec.
type Resource interface {
	// Kind is the resource's kind, fixed by its type (not read from the
	// kind field, which may be empty before CheckAndSetDefaults).
	Kind() string
	// Name is metadata.name.
	Name() string
	// CheckAndSetDefaults validates the resource, fills in defaults and
	// normalises values (lower-cased DNS names, canonical CIDR). Its errors
	// are *ValidationError.
	CheckAndSetDefaults() error
}

// kinds maps each kind to a constructor of its empty resource. A new kind
// (token, trusted_cluster) is one entry here and one file.
var kinds = map[string]func() Resource{
	KindVNetConfig: func() Resource { return new(VNetConfig) },
	KindApp:        func() Resource { return new(App) },
	KindRole:       func() Resource { return new(Role) },
	KindUser:       func() Resource { return new(User) },
}

// Kinds returns the known kinds, sorted.
func Kinds() []string {
	ks := make([]string, 0, len(kinds))
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// IsKind reports whether kind is a known kind.
func IsKind(kind string) bool {
	_, ok := kinds[kind]
	return ok
}

// Metadata names a resource and labels it.
type Metadata struct {
	Name   string            `yaml:"name" json:"name"`
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// Origin is where the resource is defined when not through the API:
	// OriginConfig for an app of cluster.yaml, which the file changes and
	// removes. Set by the cluster only.
	Origin string `yaml:"origin,omitempty" json:"origin,omitempty"`
}

// OriginConfig marks an app defined in cluster.yaml.
const OriginConfig = "config"

// Header is the part every resource shares; resource types embed it inline.
// The kind field is KindField because Kind is the Resource method.
type Header struct {
	KindField string   `yaml:"kind" json:"kind"`
	Version   string   `yaml:"version" json:"version"`
	Metadata  Metadata `yaml:"metadata" json:"metadata"`
}

// Name implements Resource.
func (h *Header) Name() string { return h.Metadata.Name }

// check validates the header of a resource of the given kind and sets the
// kind field if it is empty.
func (h *Header) check(kind string) error { return h.checkNamed(kind, checkResourceName) }

// checkNamed is check with a kind's own rule for metadata.name: nameRule
// returns why a name is invalid, or "".
func (h *Header) checkNamed(kind string, nameRule func(string) string) error {
	fail := func(field, format string, args ...any) error {
		return newError(kind, h.Metadata.Name, field, format, args...)
	}
	switch h.KindField {
	case "":
		h.KindField = kind
	case kind:
	default:
		return fail("kind", "%q does not match the resource type %s", h.KindField, kind)
	}
	switch h.Version {
	case V1:
	case "":
		return fail("version", "required (use %s)", V1)
	default:
		return fail("version", "%q is not supported (use %s)", h.Version, V1)
	}
	if h.Metadata.Name == "" {
		return fail("metadata.name", "required")
	}
	if reason := nameRule(h.Metadata.Name); reason != "" {
		// The name is what is wrong: leave it out of the prefix.
		return newError(kind, "", "metadata.name", "%q %s", h.Metadata.Name, reason)
	}
	if len(h.Metadata.Labels) == 0 {
		h.Metadata.Labels = nil // one form for "no labels", so round trips compare equal
	}
	if len(h.Metadata.Labels) > maxLabels {
		return fail("metadata.labels", "%d labels, at most %d", len(h.Metadata.Labels), maxLabels)
	}
	keys := make([]string, 0, len(h.Metadata.Labels))
	for k := range h.Metadata.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report the same label first every time
	for _, k := range keys {
		if k == "" {
			return fail("metadata.labels", "a label has an empty key")
		}
		field := fmt.Sprintf("metadata.labels[%q]", clipEcho(k))
		if len(k) > maxLabelLen || len(h.Metadata.Labels[k]) > maxLabelLen {
			return fail(field, "the key or the value is too long (at most %d bytes each)", maxLabelLen)
		}
		if r, ok := firstBadLabelKeyRune(k); ok {
			return fail(field, "the key contains %q: use letters, digits and '-', '_', '.', '/', ':'", r)
		}
		v := h.Metadata.Labels[k]
		if v == "" {
			return fail(field, "empty value")
		}
		if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
			return fail(field, "the value contains the control character %q", []rune(v[i:])[0])
		}
	}
	return nil
}

// Bounds on labels: enough for any selector, small enough that an agent
// cannot make the catalog or the audit carry megabytes.
const (
	maxLabels   = 64
	maxLabelLen = 256
)

// maxNameLen matches the longest DNS name: names end up in keys, file names
// and, for apps, next to DNS names in messages.
const maxNameLen = 253

// checkResourceName returns why name is not a valid metadata.name, or "".
func checkResourceName(name string) string {
	const rule = "use lower-case letters, digits, '-', '_' and '.', starting with a letter or digit"
	if len(name) > maxNameLen {
		return fmt.Sprintf("is too long (%d characters, at most %d)", len(name), maxNameLen)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case i > 0 && (r == '-' || r == '_' || r == '.'):
		case i == 0 && (r == '-' || r == '_' || r == '.'):
			return fmt.Sprintf("starts with %q: %s", r, rule)
		default:
			return fmt.Sprintf("contains %q: %s", r, rule)
		}
	}
	return ""
}

// firstBadLabelKeyRune returns the first rune of a label key outside the
// set role selectors (app_labels) are written with.
func firstBadLabelKeyRune(k string) (rune, bool) {
	for _, r := range k {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '-' || r == '_' || r == '.' || r == '/' || r == ':':
		default:
			return r, true
		}
	}
	return 0, false
}

// sortedUnique sorts s in place and drops duplicates; nil for none.
func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}

// kindList is the known kinds for messages: "app, vnet_config".
func kindList() string { return strings.Join(Kinds(), ", ") }
