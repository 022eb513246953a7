package local_test

import (
	"testing"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/bus/bustest"
	"github.com/seen-im/seen/internal/bus/local"
)

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus {
		b := local.New()
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}
