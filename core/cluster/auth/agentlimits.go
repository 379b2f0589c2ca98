package auth

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// AgentLimits narrow the apps an agent may serve. They are set on an app
// join token ('vnet ctl tokens add --type=app --apps=... --labels=...'),
// copied into the record of every agent that joins with it, and checked
// by the proxy at every registration. The zero value allows every app.
type AgentLimits struct {
	// Apps are path.Match globs; an app's name must match one. Empty: any
	// name.
	Apps []string `json:"apps,omitempty"`
	// Labels must all be among an app's labels, with the same values.
	Labels map[string]string `json:"labels,omitempty"`
}

// Check returns why the limits cannot be used, or nil.
func (l AgentLimits) Check() error {
	for _, g := range l.Apps {
		if g == "" {
			return fmt.Errorf("--apps: an empty pattern")
		}
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("--apps: %q is not a valid pattern (path.Match: '*', '?', [a-z])", g)
		}
	}
	for k, v := range l.Labels {
		if k == "" || v == "" {
			return fmt.Errorf("--labels: %q=%q: keys and values must not be empty", k, v)
		}
	}
	return nil
}

// Outside returns why an app called name with labels is outside the
// limits, or "".
func (l AgentLimits) Outside(name string, labels map[string]string) string {
	if len(l.Apps) > 0 && !slices.ContainsFunc(l.Apps, func(g string) bool {
		ok, _ := path.Match(g, name)
		return ok
	}) {
		return fmt.Sprintf("the agent's join token allows only apps named %s", strings.Join(l.Apps, ","))
	}
	for _, k := range sortedKeys(l.Labels) {
		if v, ok := labels[k]; !ok || v != l.Labels[k] {
			return fmt.Sprintf("the agent's join token allows only apps labelled %s", formatLabels(l.Labels))
		}
	}
	return ""
}

// String is "apps=db-*,web labels=env=dev", or "-" for no limits.
func (l AgentLimits) String() string {
	var parts []string
	if len(l.Apps) > 0 {
		parts = append(parts, "apps="+strings.Join(l.Apps, ","))
	}
	if len(l.Labels) > 0 {
		parts = append(parts, "labels="+formatLabels(l.Labels))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func formatLabels(labels map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(labels) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
