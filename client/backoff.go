package client

import (
	"math/rand/v2"
	"time"
)

// backoff computes reconnect delays: the step doubles per attempt from min
// up to max, and each delay is drawn uniformly from the upper half of the
// step, so clients dropped together do not come back together.
type backoff struct {
	min, max time.Duration
	attempt  int
	rand     func() float64 // in [0, 1)
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, rand: rand.Float64}
}

// next returns the delay before the next attempt, within [min/2, max].
func (b *backoff) next() time.Duration {
	step := b.max
	if b.attempt < 63 {
		if s := b.min << b.attempt; s > 0 && s>>b.attempt == b.min && s < b.max {
			step = s
		}
	}
	b.attempt++
	half := step / 2
	return half + time.Duration(b.rand()*float64(step-half))
}

// reset starts over from min, after a success.
func (b *backoff) reset() { b.attempt = 0 }
