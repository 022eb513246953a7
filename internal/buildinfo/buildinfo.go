// Package buildinfo reports what a seen binary was built from: the module
// version and the VCS revision Go records in every binary (see
// runtime/debug.ReadBuildInfo), for `seen version` and the seen_build_info
// metric.
package buildinfo

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Info is what a binary was built from.
type Info struct {
	// Version is the module version (v1.2.3, or a pseudo-version for
	// `go install ...@<commit>`), or "devel" for a build in a checkout.
	Version string
	// Revision is the VCS commit, with "-dirty" if the tree had changes;
	// "unknown" when the build recorded none (-buildvcs=false, a source
	// archive without .git, or `go install` from the module proxy).
	Revision  string
	GoVersion string
}

// Read returns the running binary's build info. A non-empty override (set
// with -ldflags) replaces the version Go recorded.
func Read(override string) Info {
	bi, _ := debug.ReadBuildInfo()
	return FromBuildInfo(bi, override)
}

// FromBuildInfo extracts Info from bi, which may be nil.
func FromBuildInfo(bi *debug.BuildInfo, override string) Info {
	info := Info{Version: "devel", Revision: "unknown", GoVersion: runtime.Version()}
	if bi != nil {
		info.GoVersion = bi.GoVersion
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
		}
		var rev string
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			info.Revision = rev
			if dirty {
				info.Revision += "-dirty"
			}
		}
	}
	if override != "" {
		info.Version = override
	}
	return info
}

// Collector is the seen_build_info gauge: always 1, the build in its labels,
// so that dashboards can join it to other metrics and show what runs.
func (i Info) Collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "seen_build_info",
		Help: "Always 1; the labels say what the running binary was built from.",
		ConstLabels: prometheus.Labels{
			"version": i.Version, "revision": i.Revision, "go_version": i.GoVersion,
		},
	})
	g.Set(1)
	return g
}
