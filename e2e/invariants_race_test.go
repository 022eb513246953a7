//go:build race

package e2e

import "time"

// The race detector slows the server and the clients several times over
// on two cores, so under -race the invariant test runs 15,000 operations to
// stay well within a minute; the full 100,000 run without -race.
const (
	invOps         = 15_000
	invMaxDuration = 3 * time.Minute
)
