// Package bus defines how events reach the connections that must receive
// them, wherever those connections are held. The in-process implementation
// is bus/local; a NATS implementation carries the same events between
// server nodes.
//
// Events are already encoded: a notification is marshalled once and the
// same bytes go to every recipient.
package bus

import (
	"context"
	"errors"
)

// ErrClosed is returned by a bus after Close.
var ErrClosed = errors.New("bus: closed")

// Event is one encoded server notification.
type Event struct {
	// Data is the JSON-RPC notification, written to sockets as it is.
	Data []byte
	// ExceptConn, if set, is the id of a connection that must not receive
	// the event (the device that caused it).
	ExceptConn string
}

// Handler receives events for one subscriber. It must not block: it runs on
// the publisher's goroutine (in-process) or the bus's delivery goroutine.
type Handler func(Event)

// Bus routes events to users' connections.
type Bus interface {
	// Publish delivers ev to every subscriber of each user in users, on
	// every node. Delivery is at most once: a client that misses events
	// re-syncs by state.
	Publish(ctx context.Context, users []string, ev Event) error
	// Subscribe registers h for the events of userID on this node until
	// cancel is called.
	Subscribe(userID string, h Handler) (cancel func(), err error)
	// Close stops delivery; later calls return ErrClosed.
	Close() error
}
