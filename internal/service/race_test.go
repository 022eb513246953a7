//go:build race

package service

// raceEnabled: the race detector adds allocations of its own, so tests that
// count allocations skip.
const raceEnabled = true
