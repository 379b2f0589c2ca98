package api

import "time"

// TimeText is the one way VNet shows a time to a person: local time to
// the second, "2006-01-02 15:04:05" (two columns in a table); "-" for
// the zero time. Output for machines (--format json, JSON logs) uses RFC
// 3339, as encoding/json writes a time.Time.
func TimeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}
