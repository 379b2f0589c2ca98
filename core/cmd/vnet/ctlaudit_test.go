package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/audit"
)

// TestAuditTableShowsBothAddresses: the table keeps its columns in their
// places and adds the client's reported address last; json carries it as
// client_reported_addr.
func TestAuditTableShowsBothAddresses(t *testing.T) {
	ev := audit.Event{Time: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Type: audit.SessionStart, User: "alice", App: "db",
		ClientAddr: "192.0.2.1:4000", ClientReportedAddr: "100.64.0.1:40000", Target: "10.0.0.5:5432"}
	var buf bytes.Buffer
	if err := writeAuditTable(&buf, []audit.Event{ev, {Time: ev.Time, Type: audit.Dropped, Count: 3}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table = %q, want a header and two rows", buf.String())
	}
	header := strings.Join(strings.Fields(lines[0]), " ")
	if want := "TIME EVENT USER APP CLIENT TARGET BYTES IN BYTES OUT DURATION ERROR CLIENT REPORTED"; header != want {
		t.Errorf("header %q, want %q", header, want)
	}
	row := strings.Fields(lines[1])
	if want := []string{audit.SessionStart, "alice", "db", "192.0.2.1:4000", "10.0.0.5:5432", "-", "-", "-", "-", "100.64.0.1:40000"}; strings.Join(row[2:], " ") != strings.Join(want, " ") {
		t.Errorf("row %q, want the columns %q after the time", row, want)
	}
	if !strings.HasSuffix(lines[2], "-") || !strings.Contains(lines[2], "(3 events lost)") {
		t.Errorf("dropped row %q", lines[2])
	}
	data, err := json.Marshal(ev)
	if err != nil || !strings.Contains(string(data), `"client_addr":"192.0.2.1:4000"`) || !strings.Contains(string(data), `"client_reported_addr":"100.64.0.1:40000"`) {
		t.Errorf("json %s (%v), want client_addr and client_reported_addr", data, err)
	}
}
