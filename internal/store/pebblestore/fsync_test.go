package pebblestore

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/seen-im/seen/internal/store"
)

// A failed WAL fsync is fatal: the write is not acknowledged, the owner is
// told once, every later call is refused, and a restart finds exactly what
// was acknowledged before.
func TestFailedSyncIsFatalAndNeverRetried(t *testing.T) {
	dir := t.TempDir()
	var failing atomic.Bool
	var walSyncs atomic.Int64
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !strings.HasSuffix(op.Path, ".log") {
			return nil
		}
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			if failing.Load() {
				walSyncs.Add(1)
				return errors.New("injected: EIO on fsync")
			}
		}
		return nil
	})
	var fatal atomic.Int32
	s, err := Open(dir, Options{FS: errorfs.Wrap(vfs.Default, inj), OnFatal: func(error) { fatal.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	conv := store.PeerConv("a", "b")
	appendN := func(s store.Store, from, n int) error {
		for i := from; i < from+n; i++ {
			m := store.Message{ID: fmt.Sprint("m", i), Conv: conv, Sender: "a", ClientMsgID: fmt.Sprint(i), Body: []byte("1"), SentAt: int64(i)}
			if _, _, err := s.Append(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
	if err := appendN(s, 1, 5); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	err = appendN(s, 6, 1)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("append with a failing fsync = %v, want an error wrapping ErrUnavailable", err)
	}
	if fatal.Load() != 1 {
		t.Fatalf("OnFatal called %d times, want once", fatal.Load())
	}
	syncsAtFailure := walSyncs.Load()
	// Every later call is refused, reads included, and nothing retries
	// the sync.
	if _, err := s.GetMessage(ctx, "m1"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("read after the failure = %v, want ErrUnavailable", err)
	}
	if err := appendN(s, 7, 1); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("append after the failure = %v, want ErrUnavailable", err)
	}
	if n := walSyncs.Load(); n != syncsAtFailure {
		t.Errorf("%d more WAL syncs after the failure, want none", n-syncsAtFailure)
	}
	if fatal.Load() != 1 {
		t.Errorf("OnFatal called %d times, want once", fatal.Load())
	}
	_ = s.Close() // may fail: the WAL is broken
	failing.Store(false)

	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	for i := 1; i <= 5; i++ {
		if _, err := s2.GetMessage(ctx, fmt.Sprint("m", i)); err != nil {
			t.Fatalf("acknowledged message m%d lost: %v", i, err)
		}
	}
	last, err := s2.LastSeq(ctx, conv)
	if err != nil || last < 5 {
		t.Fatalf("last seq after restart = %d, %v; want at least 5", last, err)
	}
}

// A done receipt's settle is written without a WAL sync of its own; a
// settle with frozen counts waits for one (store.Receipts.SettleReceipt).
func TestDoneSettleIsNotSynced(t *testing.T) {
	var walSyncs atomic.Int64
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			if strings.HasSuffix(op.Path, ".log") {
				walSyncs.Add(1)
			}
		}
		return nil
	})
	s, err := Open(t.TempDir(), Options{FS: errorfs.Wrap(vfs.Default, inj)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	conv := store.PeerConv("a", "b")
	for i := 1; i <= 2; i++ {
		m := store.Message{ID: fmt.Sprint("m", i), Conv: conv, Sender: "a", Body: []byte("1"), SentAt: 1, Receipt: true}
		if _, _, err := s.Append(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	before := walSyncs.Load()
	if err := s.SettleReceipt(ctx, conv, 1, nil); err != nil {
		t.Fatal(err)
	}
	if n := walSyncs.Load() - before; n != 0 {
		t.Errorf("a done receipt's settle synced the WAL %d times, want none", n)
	}
	if m, err := s.MessageAt(ctx, conv, 1); err != nil || !m.Settled {
		t.Errorf("after the settle: settled %v, %v; want it seen at once", m.Settled, err)
	}
	before = walSyncs.Load()
	if err := s.SettleReceipt(ctx, conv, 2, &store.Frozen{Read: 1}); err != nil {
		t.Fatal(err)
	}
	if n := walSyncs.Load() - before; n == 0 {
		t.Error("a settle with frozen counts returned without a WAL sync")
	}
}
