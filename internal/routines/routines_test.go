package routines

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWaitJoinsEveryGoroutine(t *testing.T) {
	var g Group
	release := make(chan struct{})
	for range 3 {
		if !g.Go("worker", func() { <-release }) {
			t.Fatal("Go refused on a running group")
		}
	}
	if n := g.Running(); n != 3 {
		t.Fatalf("Running = %d, want 3", n)
	}
	close(release)
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("Wait = %v, want nil", err)
	}
	if n := g.Running(); n != 0 {
		t.Fatalf("Running after Wait = %d, want 0", n)
	}
}

func TestWaitGivesUpWithTheContextAndNamesWhatRuns(t *testing.T) {
	var g Group
	release := make(chan struct{})
	g.Go("stuck", func() { <-release })
	g.Go("stuck", func() { <-release })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := g.Wait(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stuck×2") {
		t.Fatalf("Wait = %v, want context.Canceled naming stuck×2", err)
	}
	close(release)
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("second Wait = %v", err)
	}
}

func TestStopRefusesNewGoroutines(t *testing.T) {
	var g Group
	g.Stop()
	if g.Go("late", func() { t.Error("ran after Stop") }) {
		t.Fatal("Go started a goroutine after Stop")
	}
	if _, ok := g.Add("late"); ok {
		t.Fatal("Add counted a goroutine after Stop")
	}
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestAddCountsUntilDone(t *testing.T) {
	var g Group
	done, ok := g.Add("timer")
	if !ok {
		t.Fatal("Add refused")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Wait(ctx); err == nil {
		t.Fatal("Wait returned nil while an added goroutine runs")
	}
	done()
	done() // a second call is harmless
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
