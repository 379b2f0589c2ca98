package dnsname

import (
	"strings"
	"testing"
)

func TestCheckLabel(t *testing.T) {
	for _, tc := range []struct{ label, want string }{
		{"tcp-app", ""},
		{"a", ""},
		{strings.Repeat("a", 63), ""},
		{"", "it is empty"},
		{strings.Repeat("a", 64), "64 bytes, at most 63"},
		{"-db", "it starts or ends with '-'"},
		{"db-", "it starts or ends with '-'"},
		{"my_app", "it contains '_'; use letters, digits and '-'"},
		{"db.main", "it contains '.'; use letters, digits and '-'"},
		{"Db", "it contains 'D'; use letters, digits and '-'"}, // callers lower-case first
	} {
		if got := CheckLabel(tc.label); got != tc.want {
			t.Errorf("CheckLabel(%q) = %q, want %q", tc.label, got, tc.want)
		}
	}
}
