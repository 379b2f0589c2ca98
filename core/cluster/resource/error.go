package resource

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalid matches every *ValidationError: errors.Is(err, ErrInvalid)
// tells a bad resource (the user's to fix) from other failures.
var ErrInvalid = errors.New("invalid resource")

// ValidationError says what is wrong with a resource. Its message is one
// line: kind "name": field.path: reason.
type ValidationError struct {
	Kind   string // "" when the kind itself is unknown
	Name   string // metadata.name, "" if unknown or itself invalid
	Field  string // path such as spec.custom_dns_zones[1].suffix; "" for the whole resource
	Reason string // one line
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.Kind != "" {
		b.WriteString(e.Kind)
		if e.Name != "" {
			fmt.Fprintf(&b, " %q", e.Name)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// newError returns a *ValidationError whose reason is formatted and forced
// onto one line (parser messages may span several).
func newError(kind, name, field, format string, args ...any) *ValidationError {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = clipEcho(s)
		}
	}
	return &ValidationError{Kind: kind, Name: clipEcho(name), Field: field, Reason: oneLine(fmt.Sprintf(format, args...))}
}

// maxEchoLen is how much of a value an error quotes back: a resource (or
// an agent's announced app) may carry a huge string, and the error that
// refuses it stays one readable line.
const maxEchoLen = 256

// clipEcho returns s, or its first maxEchoLen bytes (cut at a rune) and
// how many more there were.
func clipEcho(s string) string {
	if len(s) <= maxEchoLen {
		return s
	}
	n := maxEchoLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s…(%d more bytes)", s[:n], len(s)-n)
}

// oneLine joins the lines of s with "; ", dropping blank ones and
// indentation.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var parts []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
