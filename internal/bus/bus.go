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

// ErrUnavailable is returned when the nodes cannot be reached now (the
// connection between them is down); the call may be repeated.
var ErrUnavailable = errors.New("bus: unavailable")

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

// Audience names the recipients of a conversation event by membership
// rather than by list, so that a bus spanning nodes can send the event once
// and let each node find the recipients it holds sockets for: the members
// of Conv, plus Also, minus Except, each once.
type Audience struct {
	// Conv is the conversation whose members receive the event, in the
	// store's form (store.ConvID as a string).
	Conv string
	// Members are Conv's members as the publishing node knows them. A bus
	// delivers to its own node's subscribers from this list; another node
	// may ask its Resolver instead.
	Members []string
	// Also are users who receive the event whether or not they are still
	// members (a member just removed learns of its removal).
	Also []string
	// Except are users who do not receive it (a sender whose own copy is
	// encoded differently).
	Except []string
}

// Recipients calls fn once for each recipient of a: members (a's own or a
// Resolver's) that are neither in Also nor in Except, then each user of
// Also not in Except. Members must not repeat; Also may overlap Members,
// since another node's view of the members may or may not hold them yet.
func (a Audience) Recipients(members []string, fn func(user string)) {
	skip := make(map[string]bool, len(a.Also)+len(a.Except))
	for _, u := range a.Also {
		skip[u] = false
	}
	for _, u := range a.Except {
		skip[u] = true
	}
	for _, u := range members {
		if _, ok := skip[u]; !ok {
			fn(u)
		}
	}
	for _, u := range a.Also {
		if done := skip[u]; !done {
			skip[u] = true // once, however often Also names it
			fn(u)
		}
	}
}

// Resolver returns the current members of a conversation on the node that
// asks: a node receiving an Audience from another node delivers to its own
// subscribers among them. It must be cheap once warm (the service answers
// from its receipt engine's membership).
type Resolver func(ctx context.Context, conv string) ([]string, error)

// Bus routes events to users' connections.
type Bus interface {
	// Publish delivers ev to every subscriber of each user in users, on
	// every node. Delivery is at most once: a client that misses events
	// re-syncs by state.
	Publish(ctx context.Context, users []string, ev Event) error
	// PublishConv delivers ev to every subscriber of a's recipients, on
	// every node, with the guarantees of Publish. Events of one publisher
	// keep their order across Publish and PublishConv.
	PublishConv(ctx context.Context, a Audience, ev Event) error
	// Subscribe registers h for the events of userID on this node until
	// cancel is called.
	Subscribe(userID string, h Handler) (cancel func(), err error)
	// Close stops delivery; later calls return ErrClosed.
	Close() error

	// PublishSync sends data to every other node's SyncReceiver, and
	// returns once it has left this node: a node that answers a client
	// after it may rely on every later Barrier elsewhere finding it. Sync
	// messages keep their order with this node's events on every node.
	PublishSync(ctx context.Context, data []byte) error
	// SetSync sets who receives other nodes' sync messages; call it once,
	// before the node serves.
	SetSync(r SyncReceiver)
	// Barrier returns once every sync message and event another node
	// had published before Barrier was called has been handed to this
	// node's receiver and handlers.
	Barrier(ctx context.Context) error
	// Nodes returns this node's id and the ids of the nodes live now,
	// this one included, sorted: the same list on every node once their
	// heartbeats have met.
	Nodes() (self string, live []string)
}

// SyncReceiver takes what other nodes publish with PublishSync: the
// changes each makes to state every node caches (receipt engines).
type SyncReceiver interface {
	// ApplySync is called with each sync message of another node, one
	// at a time, in order with that node's events. It runs on the bus's
	// delivery goroutine: it must not call Barrier, and whatever it
	// waits for holds up later messages.
	ApplySync(data []byte)
	// SyncLost is called when messages from other nodes may have been
	// lost (a reconnect, a full delivery queue, a node gone or
	// restarted without a word): whatever was built from them is suspect.
	SyncLost(reason string)
}

// Reasons given to SyncLost.
const (
	LostReconnect = "reconnect" // this node's connection came back
	LostDropped   = "dropped"   // messages dropped on this node
	LostPeer      = "peer"      // a node went away or restarted
)
