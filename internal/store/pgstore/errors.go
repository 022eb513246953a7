package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/seen-im/seen/internal/store"
)

// classify wraps a database error with what was being done, and with
// store.ErrUnavailable when the cause is that the database cannot serve
// now (unreachable, shutting down, out of connections): a caller may retry
// those later, and the server answers them 503. A canceled or expired
// context stays what it is.
func classify(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("pgstore: %s: %w", op, err)
	case unavailable(err):
		return fmt.Errorf("pgstore: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

// unavailable reports whether err says the database cannot be reached or
// cannot serve now, as opposed to refusing this statement.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		case strings.HasPrefix(pgErr.Code, "53"): // insufficient resources: too many connections, disk full
			return true
		case strings.HasPrefix(pgErr.Code, "57P"): // admin or crash shutdown, cannot connect now
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case pgconn.SafeToRetry(err):
		// Nothing reached the server: a connection that broke before the
		// statement was sent.
		return true
	}
	// pgx reports a connection it closed after a failure, and a closed
	// pool, with plain errors.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "closed pool")
}

// outcomeUnknown reports whether a write that failed with err may still
// have committed, or commit yet: it failed for want of the database's
// answer (a connection lost, a context ended), not by the database's
// refusal or a check of this package.
func outcomeUnknown(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExists), errors.Is(err, store.ErrNotEmpty),
		errors.Is(err, store.ErrTooManyAcks), errors.Is(err, errClientIDStored):
		return false
	case errors.As(err, &pgErr):
		return unavailable(err)
	}
	return true
}
