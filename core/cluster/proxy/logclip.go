package proxy

import (
	"fmt"
	"unicode/utf8"
)

// maxLoggedLen is how much of a client-supplied string a log line holds.
const maxLoggedLen = 64

// clip returns s, or its first maxLoggedLen bytes (cut at a rune) and how
// many more there were: a client that sends a huge name fills no log.
func clip(s string) string {
	if len(s) <= maxLoggedLen {
		return s
	}
	n := maxLoggedLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s…(%d more bytes)", s[:n], len(s)-n)
}
