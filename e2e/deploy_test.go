package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// The operations kit under deploy/.
const (
	dashboardFile = "../deploy/grafana/seen.json"
	alertsFile    = "../deploy/prometheus/alerts.yml"
)

// TestDeployMetricsExist checks that every metric the Grafana dashboard and
// the Prometheus alert rules query is exported by a running server with at
// least one sample, after a little traffic through the receipt pipeline (a
// group message with a receipt, and a read). A renamed or removed metric
// would otherwise leave an empty panel or an alert that can never fire.
func TestDeployMetricsExist(t *testing.T) {
	dashExprs := dashboardExprs(t)
	ruleExprs := alertExprs(t)

	s := seentest.Start(t)
	devs := groupOf(t, s, "ops", "owner", "m1", "m2")
	g := group("ops")
	msg := devs["owner"].sendReceipt(g, "monitored")
	next[protocol.Message](devs["m1"])
	if n := devs["m1"].read(g, msg.MsgID); n != 1 {
		t.Fatalf("read = %d, want 1", n)
	}
	devs["owner"].changedUntil(msg.MsgID, 1)

	fams := scrape(t, s)
	// The pipeline's metrics carry this traffic, so their wiring is real.
	for name, atLeast := range map[string]float64{
		"seen_receipt_engines_loaded":           1,
		"seen_receipt_engine_memory_bytes":      1,
		"seen_receipt_changed_sent_total":       1,
		"seen_store_watermark_batch_ops_count":  1,
		"seen_request_duration_seconds_count":   1,
		"seen_store_duration_seconds_count":     1,
		"seen_receipt_engine_load_errors_total": 0,
	} {
		if got := sampleSum(fams, name); got < atLeast {
			t.Errorf("%s = %v after the traffic, want at least %v", name, got, atLeast)
		}
	}

	for _, src := range []struct {
		file  string
		exprs []string
	}{{dashboardFile, dashExprs}, {alertsFile, ruleExprs}} {
		names := metricNames(src.exprs)
		if len(names) == 0 {
			t.Fatalf("%s: no metric names found in %d expressions", src.file, len(src.exprs))
		}
		for _, name := range names {
			if err := exported(fams, name); err != nil {
				t.Errorf("%s: %v", src.file, err)
			}
		}
	}
}

// metricRe matches the names of the metrics a server exports (its own,
// and the Go and process collectors') in a PromQL expression.
var metricRe = regexp.MustCompile(`\b(?:seen|go|process)_[a-z0-9_]*[a-z0-9]\b`)

// metricNames lists the distinct metric names in exprs, sorted.
func metricNames(exprs []string) []string {
	var names []string
	for _, e := range exprs {
		names = append(names, metricRe.FindAllString(e, -1)...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// exported reports whether name can be queried on the scraped families: a
// family of that name with samples that is not a histogram (a histogram's
// own name has no series), or a histogram's _bucket, _sum or _count, or a
// summary's _sum or _count.
func exported(fams map[string]*dto.MetricFamily, name string) error {
	if f := fams[name]; f != nil {
		if f.GetType() == dto.MetricType_HISTOGRAM {
			return fmt.Errorf("%s is a histogram: it has no series of its own; query %[1]s_bucket, _sum or _count", name)
		}
		if len(f.GetMetric()) == 0 {
			return fmt.Errorf("%s is exported with no samples", name)
		}
		return nil
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		f := fams[base]
		switch {
		case f == nil:
		case f.GetType() == dto.MetricType_HISTOGRAM,
			f.GetType() == dto.MetricType_SUMMARY && suffix != "_bucket":
			if len(f.GetMetric()) == 0 {
				return fmt.Errorf("%s is exported with no samples", base)
			}
			return nil
		default:
			return fmt.Errorf("%s: %s is a %s, not a histogram", name, base, f.GetType())
		}
	}
	return fmt.Errorf("%s is not exported by the server", name)
}

// TestExportedResolvesHistogramSuffixes keeps exported honest: the
// suffixes resolve only on the kinds of family that have them.
func TestExportedResolvesHistogramSuffixes(t *testing.T) {
	fams := parseExposition(t, `# TYPE h histogram
h_bucket{le="+Inf"} 1
h_sum 2
h_count 1
# TYPE c_count counter
c_count 3
# TYPE g gauge
g 1
# TYPE s summary
s{quantile="0.5"} 1
s_sum 1
s_count 1
`)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"h_bucket", true}, {"h_sum", true}, {"h_count", true}, {"h", false},
		{"c_count", true}, {"g", true}, {"g_count", false}, {"g_bucket", false},
		{"s", true}, {"s_sum", true}, {"s_count", true}, {"s_bucket", false},
		{"missing", false}, {"missing_count", false},
	} {
		if err := exported(fams, tc.name); (err == nil) != tc.ok {
			t.Errorf("exported(%s) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	if got, want := metricNames([]string{
		`histogram_quantile(0.99, sum by (le) (rate(seen_a_bucket{job="seen"}[$__rate_interval])))`,
		`sum(rate(seen_b_total[5m])) / process_resident_memory_bytes and go_goroutines`,
		`label_values(seen_a_bucket, instance)`,
	}), []string{"go_goroutines", "process_resident_memory_bytes", "seen_a_bucket", "seen_b_total"}; !slices.Equal(got, want) {
		t.Errorf("metricNames = %v, want %v", got, want)
	}
}

// scrape reads and parses the server's /metrics; in a cluster, every
// node's, each family holding the samples of all nodes (as a query summing
// over instances sees them).
func scrape(t *testing.T, s *seentest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	all := map[string]*dto.MetricFamily{}
	for _, text := range metrics(t, s) {
		for name, f := range parseExposition(t, text) {
			if a := all[name]; a != nil {
				a.Metric = append(a.Metric, f.Metric...)
			} else {
				all[name] = f
			}
		}
	}
	return all
}

func parseExposition(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	return fams
}

// sampleSum adds up a gauge's or counter's samples, or a histogram's
// counts when name ends in _count.
func sampleSum(fams map[string]*dto.MetricFamily, name string) float64 {
	var sum float64
	if base, ok := strings.CutSuffix(name, "_count"); ok && fams[base] != nil {
		for _, m := range fams[base].GetMetric() {
			sum += float64(m.GetHistogram().GetSampleCount())
		}
		return sum
	}
	f := fams[name]
	if f == nil {
		return -1
	}
	for _, m := range f.GetMetric() {
		sum += m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
	}
	return sum
}

// dashboardExprs reads the dashboard and returns every PromQL expression
// in it: panel targets and template variable queries. It also checks
// that every query goes to the ${DS_PROMETHEUS} data source, which the
// dashboard defines as a variable.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type datasource struct{ Type, UID string }
	var dash struct {
		Panels []struct {
			Title      string
			Type       string
			Datasource *datasource
			Targets    []struct {
				Expr       string
				Datasource *datasource
			}
		}
		Templating struct {
			List []struct {
				Name  string
				Type  string
				Query json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	const ds = "${DS_PROMETHEUS}"
	var exprs []string
	hasDS := false
	for _, v := range dash.Templating.List {
		if v.Name == "DS_PROMETHEUS" && v.Type == "datasource" {
			hasDS = true
		}
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("%s: variable %s: query: %v", dashboardFile, v.Name, err)
		}
		exprs = append(exprs, q.Query)
	}
	if !hasDS {
		t.Errorf("%s: no datasource variable DS_PROMETHEUS", dashboardFile)
	}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != ds {
			t.Errorf("%s: panel %q: data source %+v, want uid %s", dashboardFile, p.Title, p.Datasource, ds)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("%s: panel %q has an empty expr", dashboardFile, p.Title)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// alertExprs reads the alert rules and returns their expressions, checking
// that each rule has what an alert needs to be routed and read.
func alertExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true) // a misspelt key is an error, as in Prometheus
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: rule %q: want alert, expr, labels.severity and annotations.summary", alertsFile, r.Alert)
			}
			if _, err := model.ParseDuration(r.For); r.For != "" && err != nil {
				t.Errorf("%s: rule %q: for: %v", alertsFile, r.Alert, err)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs
}
