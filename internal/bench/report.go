package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of one run of one scenario in one process, as
// printed and as written by --json.
type Report struct {
	Scenario string         `json:"scenario"`
	Shard    string         `json:"shard"`
	Params   map[string]any `json:"params"`
	Started  time.Time      `json:"started"`
	// Elapsed is the whole run, setup included; Window the measured part
	// (first to last send or ack).
	ElapsedSec float64 `json:"elapsedSec"`
	WindowSec  float64 `json:"windowSec"`

	Setup      []Step           `json:"setup,omitempty"`
	Throughput Throughput       `json:"throughput"`
	Latency    []LatencyRow     `json:"latency"`
	Events     map[string]int64 `json:"senderEvents"`
	// MaxChangedPerSec is the most receipt.changed events one sender got
	// in one conversation within one second.
	MaxChangedPerSec int              `json:"maxReceiptChangedPerSec"`
	Errors           map[string]int64 `json:"errors"`
	Server           *ServerMem       `json:"server,omitempty"`
	Notes            []string         `json:"notes,omitempty"`
	Checks           []Check          `json:"checks"`
	OK               bool             `json:"ok"`
}

// Step is one timed setup step.
type Step struct {
	Name string  `json:"name"`
	N    int     `json:"n"`
	Sec  float64 `json:"sec"`
}

// Throughput counts the successful operations of the window and their
// rates.
type Throughput struct {
	Sends           int64   `json:"sends"`
	Delivered       int64   `json:"delivered"`
	Reads           int64   `json:"reads"`
	SendsPerSec     float64 `json:"sendsPerSec"`
	DeliveredPerSec float64 `json:"deliveredPerSec"`
	ReadsPerSec     float64 `json:"readsPerSec"`
}

// LatencyRow is one latency series, in milliseconds.
type LatencyRow struct {
	Name  string  `json:"name"`
	Count uint64  `json:"count"`
	P50   float64 `json:"p50ms"`
	P90   float64 `json:"p90ms"`
	P99   float64 `json:"p99ms"`
	Max   float64 `json:"maxms"`
}

// ServerMem is the server's resident memory before and after the run.
type ServerMem struct {
	PID        int   `json:"pid"`
	RSSBeforeK int64 `json:"rssBeforeKiB"`
	RSSAfterK  int64 `json:"rssAfterKiB"`
	// PerConnBytes is set by scenarios that hold connections open while
	// measuring (idle).
	PerConnBytes float64 `json:"perConnBytes,omitempty"`
}

// Check is one pass/fail verdict for --check.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// fill completes r from rec: throughput, latencies, events, errors, and
// the error check.
func (r *Report) fill(rec *Recorder, elapsed time.Duration) {
	win := rec.Window()
	r.ElapsedSec = elapsed.Seconds()
	r.WindowSec = win.Seconds()
	t := Throughput{Sends: rec.Sends.Load(), Delivered: rec.Delivered.Load(), Reads: rec.Reads.Load()}
	if s := win.Seconds(); s > 0 {
		t.SendsPerSec = float64(t.Sends) / s
		t.DeliveredPerSec = float64(t.Delivered) / s
		t.ReadsPerSec = float64(t.Reads) / s
	}
	r.Throughput = t
	r.Latency = nil
	for _, name := range rec.histNames() {
		s := rec.Hist(name).Summary()
		r.Latency = append(r.Latency, LatencyRow{
			Name: name, Count: s.Count,
			P50: ms(s.P50), P90: ms(s.P90), P99: ms(s.P99), Max: ms(s.Max),
		})
	}
	r.Events = rec.Events()
	r.MaxChangedPerSec = rec.MaxChangedPerSecond()
	r.Errors = rec.Errors()
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	r.AddCheck("no error responses", n == 0, fmt.Sprintf("%d errors", n))
}

// AddCheck records a verdict.
func (r *Report) AddCheck(name string, ok bool, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: detail})
}

// Passed reports whether every check passed.
func (r *Report) Passed() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WriteTable prints r as aligned text tables.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }

	p("== seen bench %s (shard %s) %s\n", r.Scenario, r.Shard, paramString(r.Params))
	for _, s := range r.Setup {
		p("setup: %s: %d in %.2fs\n", s.Name, s.N, s.Sec)
	}
	p("elapsed %.2fs, measured window %.2fs\n\n", r.ElapsedSec, r.WindowSec)

	p("throughput\tcount\tper second\t\n")
	p("sends\t%d\t%.0f\t\n", r.Throughput.Sends, r.Throughput.SendsPerSec)
	p("delivered acks\t%d\t%.0f\t\n", r.Throughput.Delivered, r.Throughput.DeliveredPerSec)
	p("read acks\t%d\t%.0f\t\n\n", r.Throughput.Reads, r.Throughput.ReadsPerSec)

	p("latency (ms)\tcount\tp50\tp90\tp99\tmax\t\n")
	for _, l := range r.Latency {
		p("%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t\n", l.Name, l.Count, l.P50, l.P90, l.P99, l.Max)
	}
	p("\n")

	p("events received by senders\tcount\t\n")
	for _, k := range sortedKeys(r.Events) {
		p("%s\t%d\t\n", k, r.Events[k])
	}
	if r.MaxChangedPerSec > 0 {
		p("receipt.changed max per second per conversation\t%d\t\n", r.MaxChangedPerSec)
	}
	p("\n")

	p("errors by code\tcount\t\n")
	if len(r.Errors) == 0 {
		p("none\t0\t\n")
	}
	for _, k := range sortedKeys(r.Errors) {
		p("%s\t%d\t\n", k, r.Errors[k])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if m := r.Server; m != nil {
		fmt.Fprintf(w, "\nserver pid %d RSS: before %d KiB, after %d KiB (%+d KiB)",
			m.PID, m.RSSBeforeK, m.RSSAfterK, m.RSSAfterK-m.RSSBeforeK)
		if m.PerConnBytes > 0 {
			fmt.Fprintf(w, ", %.0f bytes per connection", m.PerConnBytes)
		}
		fmt.Fprintln(w)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w)
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "check %s %s", mark, c.Name)
		if c.Detail != "" {
			fmt.Fprintf(w, ": %s", c.Detail)
		}
		fmt.Fprintln(w)
	}
	_, err := fmt.Fprintln(w)
	return err
}

// WriteJSONFile writes r, indented, to path.
func (r *Report) WriteJSONFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func paramString(m map[string]any) string {
	var b strings.Builder
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%v", k, m[k])
	}
	return b.String()
}
