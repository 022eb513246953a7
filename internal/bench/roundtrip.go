package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/protocol"
)

// RoundTripParams configure the roundtrip scenario.
type RoundTripParams struct {
	// Messages is how many round trips are made, one after another.
	Messages int
	// FsyncDir is where the scenario times an fdatasync between round
	// trips: a directory on the disk of the server's data ("" for none).
	FsyncDir string
	// Delivered has the reader ack message.delivered before the read: a
	// third durable write per round trip.
	Delivered bool
	Setup     bool
}

// The latency series of the roundtrip scenario.
const (
	LatRoundTrip = "send -> receipt at sender (sequential)"
	LatFsync     = "fdatasync of a 4 KiB append (probe)"
)

// RoundTrip runs the sequential end-to-end scenario: a sender sends a
// message asking for receipts to a reader; the reader, on message.new,
// reads it (acking it delivered first, with Delivered); the sender waits
// for the receipt.read event that reports it; then the next message. Nothing else runs, so a
// round trip costs what one message costs end to end, two durable writes
// (the send's and the read's) included. Between round trips, with a
// FsyncDir, it times an fdatasync of a small append there: two of them
// are the floor of a round trip on that disk, and the report says how far
// above that floor the round trip's p50 is.
func RoundTrip(ctx context.Context, o Options, p RoundTripParams) (*Report, error) {
	e, err := newEnv(o)
	if err != nil {
		return nil, err
	}
	if p.Messages < 1 {
		return nil, errors.New("bench: --messages must be at least 1")
	}
	if err := CheckSockets(2); err != nil {
		return nil, err
	}
	rep := e.newReport("roundtrip", map[string]any{"messages": p.Messages, "fsyncDir": p.FsyncDir, "delivered": p.Delivered})
	sender, reader := e.o.Prefix+"-ts", e.o.Prefix+"-tr"
	if p.Setup {
		if err := e.createUsers(ctx, rep, []string{sender, reader}); err != nil {
			return nil, err
		}
	}
	var probe *fsyncProbe
	if p.FsyncDir != "" {
		if probe, err = newFsyncProbe(p.FsyncDir); err != nil {
			return nil, err
		}
		defer probe.close()
	}
	// One message is in flight at a time: the channels never fill, and a
	// handler never blocks the client's reader.
	arrived := make(chan protocol.Message, 4)
	reported := make(chan receiptAt, 4)
	sh := e.countEvents()
	sh.ReceiptRead = func(ev protocol.ReceiptReadEvent) {
		now := time.Now()
		for _, id := range ev.MsgIDs {
			select {
			case reported <- receiptAt{id, now}:
			default:
			}
		}
	}
	sc, err := e.dial(ctx, sender, 64, sh)
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	rh := e.countEvents()
	rh.Message = func(m protocol.Message) {
		select {
		case arrived <- m:
		default:
		}
	}
	rc, err := e.dial(ctx, reader, 64, rh)
	if err != nil {
		return nil, err
	}
	defer rc.Close()

	toReader := protocol.Conversation{Type: protocol.ConvPeer, ID: reader}
	done := 0
	for done < p.Messages {
		if err := e.roundTrip(ctx, sc, rc, reader, toReader, p.Delivered, arrived, reported); err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("round trip %d: %v", done+1, err))
			break
		}
		done++
		if probe != nil {
			d, err := probe.sync()
			if err != nil {
				return nil, err
			}
			e.rec.Hist(LatFsync).Record(d)
		}
	}
	rep.AddCheck("every round trip completed", done == p.Messages, fmt.Sprintf("%d of %d", done, p.Messages))
	rep = e.finish(rep)
	if probe != nil {
		rt, fs := latencyP50(rep, LatRoundTrip), latencyP50(rep, LatFsync)
		rep.Notes = append(rep.Notes, fmt.Sprintf(
			"round trip p50 %.3f ms, two fdatasyncs (p50) %.3f ms: %.3f ms above that floor (the send's and the read's; with --delivered a round trip makes three)",
			rt, 2*fs, rt-2*fs))
	}
	return rep, nil
}

// receiptAt is a msgId a receipt.read event reported, and when it came.
type receiptAt struct {
	id string
	at time.Time
}

// roundTrip makes one round trip; see RoundTrip. It ends when the
// receipt.read event reaches the sender, which may be before the reader
// has its read's answer.
func (e *env) roundTrip(ctx context.Context, sc, rc *client.Client, reader string, toReader protocol.Conversation,
	delivered bool, arrived <-chan protocol.Message, reported <-chan receiptAt) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	start := time.Now()
	e.rec.Mark(start)
	var res protocol.SendResult
	if err := e.rec.Timed(protocol.MethodMessageSend, func() error {
		var err error
		res, err = sc.Send(ctx, protocol.SendParams{
			Conversation: toReader, ClientMsgID: client.NewClientMsgID(), Body: stampedBody(start), Receipt: true,
		})
		return err
	}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	var m protocol.Message
	for m.MsgID != res.MsgID {
		select {
		case m = <-arrived:
		case <-ctx.Done():
			return fmt.Errorf("message.new of %s: %w", res.MsgID, ctx.Err())
		}
	}
	e.ack(rc, reader, m, delivered, false, nil)
	for {
		select {
		case r := <-reported:
			if r.id != res.MsgID {
				continue
			}
			e.rec.Hist(LatRoundTrip).Record(r.at.Sub(start))
			e.rec.Mark(r.at)
			return nil
		case <-ctx.Done():
			return fmt.Errorf("receipt.read of %s: %w", res.MsgID, ctx.Err())
		}
	}
}

// latencyP50 is the p50 of the series called name in rep, in ms (0 if
// it has none).
func latencyP50(rep *Report, name string) float64 {
	for _, l := range rep.Latency {
		if l.Name == name {
			return l.P50
		}
	}
	return 0
}

// fsyncProbe times fdatasync on a disk: each sync appends 4 KiB to a file
// of its own there, as a write-ahead log does, and flushes it.
type fsyncProbe struct {
	f   *os.File
	buf []byte
}

func newFsyncProbe(dir string) (*fsyncProbe, error) {
	f, err := os.CreateTemp(dir, "seen-bench-fsync-*")
	if err != nil {
		return nil, fmt.Errorf("fsync probe: %w", err)
	}
	return &fsyncProbe{f: f, buf: make([]byte, 4096)}, nil
}

// sync appends and flushes, and returns how long the flush took.
func (p *fsyncProbe) sync() (time.Duration, error) {
	if _, err := p.f.Write(p.buf); err != nil {
		return 0, fmt.Errorf("fsync probe: %w", err)
	}
	start := time.Now()
	if err := fdatasync(p.f); err != nil {
		return 0, fmt.Errorf("fsync probe: %w", err)
	}
	return time.Since(start), nil
}

// close removes the probe's file.
func (p *fsyncProbe) close() {
	_ = p.f.Close()
	_ = os.Remove(p.f.Name())
}
