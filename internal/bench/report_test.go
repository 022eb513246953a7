package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/protocol"
)

// sampleReport is a report filled from a recorder with known contents.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	rec := NewRecorder()
	base := time.Now()
	rec.Mark(base)
	rec.Mark(base.Add(2 * time.Second))
	for i := range 100 {
		rec.Hist(LatSendToNew).Record(time.Duration(i+1) * time.Millisecond)
	}
	rec.Sends.Store(10)
	rec.Delivered.Store(40)
	rec.Reads.Store(50)
	rec.SenderEvent(protocol.EventReceiptChanged)
	rec.SenderEvent(protocol.EventReceiptChanged)
	rec.ReceiptChanged("group:g", base)
	rec.ReceiptChanged("group:g", base.Add(200*time.Millisecond))
	rec.ErrorCode("429")
	rep := &Report{Scenario: "group", Shard: "0/1", Params: map[string]any{"members": 5, "messages": 2}, Started: base}
	rep.Setup = []Step{{Name: "create users (admin API)", N: 5, Sec: 0.5}}
	rep.fill(rec, 3*time.Second)
	rep.AddCheck("exact counts", true, "2 messages")
	rep.Server = &ServerMem{PID: 42, RSSBeforeK: 1000, RSSAfterK: 1500}
	rep.OK = rep.Passed()
	return rep
}

func TestReportFill(t *testing.T) {
	rep := sampleReport(t)
	if rep.WindowSec != 2 || rep.ElapsedSec != 3 {
		t.Errorf("window %v elapsed %v, want 2 and 3", rep.WindowSec, rep.ElapsedSec)
	}
	want := Throughput{Sends: 10, Delivered: 40, Reads: 50, SendsPerSec: 5, DeliveredPerSec: 20, ReadsPerSec: 25}
	if diff := cmp.Diff(want, rep.Throughput); diff != "" {
		t.Errorf("throughput (-want +got):\n%s", diff)
	}
	if len(rep.Latency) != 1 || rep.Latency[0].Name != LatSendToNew || rep.Latency[0].Count != 100 || rep.Latency[0].Max != 100 {
		t.Errorf("latency = %+v, want one send -> message.new row of 100 with max 100ms", rep.Latency)
	}
	if p50 := rep.Latency[0].P50; p50 < 49 || p50 > 51 {
		t.Errorf("p50 = %v ms, want about 50", p50)
	}
	if rep.MaxChangedPerSec != 2 {
		t.Errorf("max receipt.changed per second = %d, want 2", rep.MaxChangedPerSec)
	}
	if rep.OK || rep.Passed() {
		t.Error("a report with an error response passed")
	}
	if c := rep.Checks[0]; c.Name != "no error responses" || c.OK || c.Detail != "1 errors" {
		t.Errorf("first check = %+v, want the failed error check", c)
	}
}

func TestReportTable(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport(t).WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`== seen bench group \(shard 0/1\) members=5 messages=2`,
		`setup: create users \(admin API\): 5 in 0\.50s`,
		"elapsed 3.00s, measured window 2.00s",
		`read acks\s+50\s+25`,
		`send -> message.new\s+100\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d\d\s+100\.00`,
		`receipt.changed\s+2`,
		`receipt.changed max per second per conversation\s+2`,
		`429\s+1`,
		`server pid 42 RSS: before 1000 KiB, after 1500 KiB \(\+500 KiB\)`,
		"check FAIL no error responses: 1 errors",
		"check ok   exact counts: 2 messages",
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Columns line up: every row of the latency table is as long as its header.
	var widths []int
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "latency (ms)") || strings.Contains(l, "send -> message.new") {
			widths = append(widths, len(l))
		}
	}
	if len(widths) != 2 || widths[0] != widths[1] {
		t.Errorf("latency header and row widths %v, want equal", widths)
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	rep := sampleReport(t)
	path := filepath.Join(t.TempDir(), "r.json")
	if err := rep.WriteJSONFile(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	// Params come back as float64: compare them apart.
	if got.Params["members"] != float64(5) {
		t.Errorf("params = %v", got.Params)
	}
	got.Params, rep.Params = nil, nil
	if diff := cmp.Diff(rep, &got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
	for _, key := range []string{`"p99ms"`, `"readsPerSec"`, `"senderEvents"`, `"errors"`, `"rssBeforeKiB"`, `"ok": false`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("JSON lacks %s:\n%s", key, data)
		}
	}
}

func TestCheckSocketsRefusesTooMany(t *testing.T) {
	lim, err := RaiseNoFile()
	if err != nil {
		t.Skipf("rlimit: %v", err)
	}
	if err := CheckSockets(10); err != nil {
		t.Errorf("CheckSockets(10) with limit %d: %v", lim, err)
	}
	err = CheckSockets(int(lim))
	if err == nil || !strings.Contains(err.Error(), "--shard") {
		t.Errorf("CheckSockets(%d) = %v, want an error pointing at --shard", lim, err)
	}
}
