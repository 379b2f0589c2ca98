package api

import (
	"testing"
	"time"
)

// TestTimeText: local time to the second, whatever zone the time came in;
// "-" for none.
func TestTimeText(t *testing.T) {
	saved := time.Local
	defer func() { time.Local = saved }()
	time.Local = time.FixedZone("UTC+2", 2*3600)
	if got := TimeText(time.Date(2026, 12, 7, 5, 30, 0, 999, time.UTC)); got != "2026-12-07 07:30:00" {
		t.Errorf("TimeText = %q, want 2026-12-07 07:30:00 (local, to the second)", got)
	}
	if got := TimeText(time.Time{}); got != "-" {
		t.Errorf("TimeText(zero) = %q, want -", got)
	}
}
