package natsbus

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/seen-im/seen/internal/bus"
)

// run hands messages from other nodes to the handlers, one at a time and
// in arrival order, until Close.
func (b *Bus) run() {
	defer close(b.done)
	for {
		select {
		case <-b.ctx.Done():
			return
		case m := <-b.in:
			if m.Subject == "" {
				b.reachMark(m) // a Barrier's marker
				continue
			}
			b.dispatch(m)
		}
	}
}

// dispatch delivers one message to this node's subscribers among its
// recipients.
func (b *Bus) dispatch(m *nats.Msg) {
	msg, err := decode(m.Data)
	if err != nil {
		b.dropped.Add(1)
		b.log.Warn("dropping a bus message", "subject", m.Subject, "err", err)
		b.lost(bus.LostDropped) // it may have been a sync message
		return
	}
	switch msg.kind {
	case kindSync:
		b.applySync(msg.ev.Data)
	case kindUser:
		u, ok := subjectUser(b.o.Prefix, m.Subject)
		if !ok {
			b.dropped.Add(1)
			b.log.Warn("dropping a bus message", "subject", m.Subject, "err", errMalformed)
			return
		}
		b.deliverEach(func(deliver func(string)) { deliver(u) }, msg)
	case kindList:
		b.mu.RLock()
		defer b.mu.RUnlock()
		if b.closed || len(b.users) == 0 {
			return
		}
		eachUser(msg.list, func(u []byte) {
			if us := b.users[string(u)]; us != nil { // no allocation
				for _, h := range us.handlers {
					h(msg.ev)
				}
			}
		})
	case kindConv:
		if !b.anyLocal() {
			return // nobody here to find among the members
		}
		members, ok := b.members(msg.aud.Conv)
		if !ok {
			return
		}
		b.deliverEach(func(deliver func(string)) { msg.aud.Recipients(members, deliver) }, msg)
	}
}

// deliverEach hands msg's event to the subscribers of the users each
// names.
func (b *Bus) deliverEach(each func(deliver func(string)), msg message) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed || len(b.users) == 0 {
		return
	}
	each(func(u string) {
		if us := b.users[u]; us != nil {
			for _, h := range us.handlers {
				h(msg.ev)
			}
		}
	})
}

// anyLocal reports whether this node holds any subscriber.
func (b *Bus) anyLocal() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.users) > 0
}

// members asks the resolver for conv's members. It runs on the delivery
// goroutine, so a slow answer (a cold engine loading from the store)
// holds up later events: they wait rather than overtake, which keeps
// their order.
func (b *Bus) members(conv string) ([]string, bool) {
	r := b.resolve.Load()
	if r == nil {
		b.dropped.Add(1)
		b.log.Warn("dropping a conversation event: no resolver", "conv", conv)
		return nil, false
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.o.ResolveTimeout)
	defer cancel()
	members, err := (*r)(ctx, conv)
	if err != nil {
		b.dropped.Add(1)
		b.log.Warn("dropping a conversation event: resolve members", "conv", conv, "err", err)
		return nil, false
	}
	return members, true
}
