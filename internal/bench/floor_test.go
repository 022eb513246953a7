package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The machine's floor for `seen bench group` one request per ack: clients
// that each keep one small request in flight over their own loopback
// socket, answered by a server that does nothing else. Every ack of the
// scenario costs at least this (a read and a write on each side), before
// any framing of Seen's, JSON, store or event. Client and server share
// this process, so the CPU reported is both sides', as on a machine that
// runs the load generator beside the server (issue 13's setting).
//
//	go test ./internal/bench -run '^$' -bench Floor -benchtime 200000x
//
// Reported per round trip: rt/s, and the process's CPU (user+sys) and
// kernel CPU (sys) in microseconds, from getrusage.

// floorSizes are the frames of the floor: about what a message.read of
// one id and its answer are on the wire.
const (
	floorRequest  = 110
	floorResponse = 40
)

// floorConns are the socket counts measured: one, and the group
// scenario's 999 readers.
var floorConns = []int{1, 999}

func BenchmarkFloorTCP(b *testing.B) {
	for _, n := range floorConns {
		b.Run("conns="+strconv.Itoa(n), func(b *testing.B) { floorTCP(b, n) })
	}
}

func BenchmarkFloorWebSocket(b *testing.B) {
	for _, n := range floorConns {
		b.Run("conns="+strconv.Itoa(n), func(b *testing.B) { floorWebSocket(b, n) })
	}
}

// floorTCP runs b.N round trips of fixed-size frames over n raw loopback
// TCP sockets.
func floorTCP(b *testing.B, n int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var served sync.WaitGroup
	served.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			served.Go(func() {
				defer c.Close()
				req, resp := make([]byte, floorRequest), make([]byte, floorResponse)
				for {
					if _, err := io.ReadFull(c, req); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			})
		}
	})
	conns := make([]net.Conn, 0, n)
	// Closing the listener and the clients' sockets ends every server
	// goroutine, on a failure too.
	b.Cleanup(func() {
		_ = ln.Close()
		for _, c := range conns {
			_ = c.Close()
		}
		served.Wait()
	})
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	floorRun(b, n, func(i int) func() error {
		c := conns[i]
		req, resp := make([]byte, floorRequest), make([]byte, floorResponse)
		return func() error {
			if _, err := c.Write(req); err != nil {
				return err
			}
			_, err := io.ReadFull(c, resp)
			return err
		}
	})
}

// floorWebSocket runs b.N round trips of text messages over n loopback
// WebSocket connections (github.com/coder/websocket on both ends, as the
// server and the Go SDK use it): the TCP floor plus the framing, masking
// and the library's locks.
func floorWebSocket(b *testing.B, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	var served sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counted before the upgrade answers, so before Dial returns.
		served.Add(1)
		defer served.Done()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		resp := make([]byte, floorResponse)
		for {
			_, _, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, websocket.MessageText, resp); err != nil {
				return
			}
		}
	}))
	conns := make([]*websocket.Conn, 0, n)
	// As floorTCP's: every connection and server goroutine ends, on a
	// failure too.
	b.Cleanup(func() {
		for _, c := range conns {
			_ = c.CloseNow()
		}
		cancel()
		served.Wait()
		srv.Close()
	})
	for range n {
		c, _, err := websocket.Dial(ctx, "ws"+srv.URL[len("http"):], nil)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	floorRun(b, n, func(i int) func() error {
		c := conns[i]
		req := make([]byte, floorRequest)
		return func() error {
			if err := c.Write(ctx, websocket.MessageText, req); err != nil {
				return err
			}
			_, _, err := c.Read(ctx)
			return err
		}
	})
}

// floorRun shares b.N round trips among n clients, each running the
// round trip that trip(i) returns one after another, and reports the
// rate and the process's CPU per round trip.
func floorRun(b *testing.B, n int, trip func(i int) func() error) {
	trips := make([]func() error, n)
	for i := range trips {
		trips[i] = trip(i)
	}
	var (
		left  atomic.Int64
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	left.Store(int64(b.N))
	u0, s0 := cpuTimes(b)
	b.ResetTimer()
	start := time.Now()
	for _, rt := range trips {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := rt(); err != nil {
					errMu.Lock()
					first = errors.Join(first, err)
					errMu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if first != nil {
		b.Fatal(first)
	}
	u1, s1 := cpuTimes(b)
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rt/s")
	b.ReportMetric(per(u1-u0+s1-s0), "cpu-µs/rt")
	b.ReportMetric(per(s1-s0), "sys-µs/rt")
}

// cpuTimes is the process's user and system CPU so far.
func cpuTimes(b *testing.B) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
