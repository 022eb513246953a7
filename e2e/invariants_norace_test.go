//go:build !race

package e2e

import "time"

// Without the race detector the invariant test runs 100,000 operations.
const (
	invOps         = 100_000
	invMaxDuration = 3 * time.Minute
)
