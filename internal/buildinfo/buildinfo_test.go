package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "false"}}
	tests := []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		want     Info
	}{
		{"no build info", nil, "", Info{Version: "devel", Revision: "unknown"}},
		{"checkout build", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			"", Info{"devel", "0123abc", "go1.26.8"}},
		{"dirty checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: append(vcs[:2:2], debug.BuildSetting{Key: "vcs.modified", Value: "true"})},
			"", Info{"devel", "0123abc-dirty", "go1.26.8"}},
		{"go install @v1.2.3", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			"", Info{"v1.2.3", "unknown", "go1.26.8"}},
		{"ldflags override", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: vcs},
			"v1.2.4-rc1", Info{"v1.2.4-rc1", "0123abc", "go1.26.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromBuildInfo(tt.bi, tt.override)
			if tt.bi == nil {
				tt.want.GoVersion = got.GoVersion // runtime.Version()
			}
			if got != tt.want {
				t.Errorf("FromBuildInfo = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCollector(t *testing.T) {
	r := prometheus.NewRegistry()
	r.MustRegister(Info{"v1.2.3", "0123abc", "go1.26.8"}.Collector())
	want := `# HELP seen_build_info Always 1; the labels say what the running binary was built from.
# TYPE seen_build_info gauge
seen_build_info{go_version="go1.26.8",revision="0123abc",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(r, strings.NewReader(want), "seen_build_info"); err != nil {
		t.Error(err)
	}
}
