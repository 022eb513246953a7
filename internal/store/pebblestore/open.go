package pebblestore

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// openWatch runs pebble.Open and fails it on the first background error.
//
// Pebble replays the write-ahead log into a memtable and flushes it before
// Open returns. A flush that fails is retried at once, with no backoff and
// no way to stop it: on a full disk (or a read-only or failing one) Open
// never returns, burns a core and logs a line per retry. A background
// error while opening therefore fails the open: the caller gets the cause
// at once and can exit non-zero, so a supervisor sees a failed service.
//
// # The abandoned open
//
// The pebble.Open call that failed this way is left running on its own
// goroutine, still retrying: pebble offers nothing to stop it. Nothing
// joins that goroutine; the process is expected to exit (cmd/seen does).
// If pebble.Open does return later, that goroutine closes what it opened.
type openWatch struct {
	log    *slog.Logger
	failed chan error // buffered 1: the first background error while opening

	mu    sync.Mutex
	state openState // guarded by mu
}

type openState uint8

const (
	opening   openState = iota
	opened              // pebble.Open returned first
	abandoned           // a background error came first
)

// open opens the database at dir, or fails on the first background error.
// lock is closed on failure.
func (w *openWatch) open(dir string, popts *pebble.Options, lock *pebble.Lock) (*pebble.DB, error) {
	type result struct {
		db  *pebble.DB
		err error
	}
	res := make(chan result, 1)
	go func() {
		db, err := pebble.Open(dir, popts)
		w.mu.Lock()
		won := w.state == opening
		if won {
			w.state = opened
		}
		w.mu.Unlock()
		if !won {
			if err == nil {
				_ = db.Close()
			}
			_ = lock.Close()
			return
		}
		res <- result{db, err}
	}()
	select {
	case r := <-res:
		if r.err != nil {
			_ = lock.Close()
			return nil, r.err
		}
		return r.db, nil
	case err := <-w.failed:
		return nil, fmt.Errorf("recovering the write-ahead log failed (free space or fix the disk, then start again): %w", err)
	}
}

// backgroundError is pebble's EventListener.BackgroundError.
func (w *openWatch) backgroundError(err error) {
	w.mu.Lock()
	state := w.state
	if state == opening {
		w.state = abandoned
		w.failed <- err
	}
	w.mu.Unlock()
	switch state {
	case opening:
		// err.Error(): pebble's errors print a stack trace with %+v.
		w.log.Error("store: background error while opening; giving up", "err", err.Error(), "component", "pebble")
	case opened:
		w.log.Error(fmt.Sprintf("background error: %s", err), "component", "pebble")
	case abandoned:
		// The open has failed and was reported: the retries of the
		// abandoned flush would only flood the log.
	}
}
