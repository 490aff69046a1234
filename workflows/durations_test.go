package workflows_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redlease/redlease/workflows"
)

// Durations in workflow inputs read as strings ("15s") or nanoseconds, the
// other fields as usual; what a Go client writes reads back the same.
func TestLeaseOptionsReadDurationsAsStringsOrNumbers(t *testing.T) {
	var req workflows.JobRequest
	in := `{"Resource":"printer","Activity":"Print","Lease":{"Name":"main","TTL":"15s","heartbeatTimeout":"5s","Wait":60000000000,"SectionTimeout":"1h30m","AcquireInSection":true}}`
	if err := json.Unmarshal([]byte(in), &req); err != nil {
		t.Fatal(err)
	}
	want := workflows.LeaseOptions{Name: "main", TTL: 15 * time.Second, HeartbeatTimeout: 5 * time.Second,
		Wait: time.Minute, SectionTimeout: 90 * time.Minute, AcquireInSection: true}
	if req.Lease.Name != want.Name || req.Lease.TTL != want.TTL || req.Lease.HeartbeatTimeout != want.HeartbeatTimeout ||
		req.Lease.Wait != want.Wait || req.Lease.SectionTimeout != want.SectionTimeout || !req.Lease.AcquireInSection {
		t.Fatalf("decoded %+v, want %+v", req.Lease, want)
	}
	if req.Resource != "printer" || req.Activity != "Print" {
		t.Fatalf("request %+v", req)
	}

	encoded, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var back workflows.LeaseOptions
	if err := json.Unmarshal(encoded, &back); err != nil {
		t.Fatal(err)
	}
	if back.TTL != want.TTL || back.HeartbeatTimeout != want.HeartbeatTimeout || back.Wait != want.Wait || back.SectionTimeout != want.SectionTimeout || back.Name != want.Name {
		t.Fatalf("round trip %+v, want %+v", back, want)
	}
}

func TestLeaseOptionsRejectWhatIsNotADuration(t *testing.T) {
	for _, in := range []string{`{"TTL":"15 parsecs"}`, `{"TTL":1.5}`, `{"TTL":true}`} {
		var o workflows.LeaseOptions
		err := json.Unmarshal([]byte(in), &o)
		if err == nil || !strings.Contains(err.Error(), "duration") {
			t.Fatalf("%s: error %v, want one about the duration", in, err)
		}
	}
}
