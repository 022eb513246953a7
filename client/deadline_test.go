package client

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestDeadlineClientChoosesTransports(t *testing.T) {
	dialTLS := &http.Transport{DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("unused")
	}}
	custom := &http.Client{Transport: roundTripperFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("unused")
	})}
	for _, tc := range []struct {
		name string
		hc   *http.Client
		want bool
	}{
		{"default", nil, true},
		{"own *http.Transport", &http.Client{Transport: &http.Transport{}, Timeout: time.Minute}, true},
		{"DialTLSContext", &http.Client{Transport: dialTLS}, false},
		{"not an *http.Transport", custom, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := deadlineClient(tc.hc, time.Second)
			if ok != tc.want {
				t.Fatalf("deadlineClient: ok = %v, want %v", ok, tc.want)
			}
			switch {
			case !ok && got != tc.hc:
				t.Fatal("a declined client must be used as given")
			case ok && (got == tc.hc || got == http.DefaultClient):
				t.Fatal("the given client was changed in place")
			case ok && tc.hc != nil && got.Timeout != tc.hc.Timeout:
				t.Fatalf("Timeout = %v, want the given %v", got.Timeout, tc.hc.Timeout)
			}
		})
	}
	if http.DefaultTransport.(*http.Transport).DialContext == nil {
		t.Fatal("test premise: DefaultTransport dials with DialContext")
	}
}

// stallServer answers connect and then reads nothing more, so the
// client's writes fill the socket and stall. It reports the server side
// of each connection on conns.
func stallServer(t *testing.T, conns chan<- *websocket.Conn) *httptest.Server {
	t.Helper()
	stop := make(chan struct{})
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ws.SetReadLimit(1 << 30)
		_, data, err := ws.Read(r.Context())
		if err != nil {
			return
		}
		var req struct {
			ID json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(data, &req); err != nil {
			return
		}
		res := `{"id":` + string(req.ID) + `,"result":{"userId":"u1","device":"d1"}}`
		if err := ws.Write(r.Context(), websocket.MessageText, []byte(res)); err != nil {
			return
		}
		conns <- ws
		<-stop // a hijacked connection's request context outlives srv.Close
	}))
	t.Cleanup(func() {
		close(stop)
		srv.Close()
		handlers.Wait()
	})
	return srv
}

// TestWriteTimeoutDropsConnection: a peer that stops reading cannot hold a
// write past the write timeout; the stalled write fails and the
// connection is dropped, on the socket deadline and on the context path.
func TestWriteTimeoutDropsConnection(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hc        *http.Client
		deadlines bool
	}{
		{"socket deadline", nil, true},
		{"context", &http.Client{Transport: roundTripperFunc(http.DefaultTransport.RoundTrip)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conns := make(chan *websocket.Conn, 1)
			srv := stallServer(t, conns)
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			c, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), "token",
				WithHTTPClient(tc.hc), WithWriteTimeout(200*time.Millisecond), WithReconnect(false),
				WithLogger(testLogger(t)))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.cfg.writeDeadlines != tc.deadlines {
				t.Fatalf("writeDeadlines = %v, want %v", c.cfg.writeDeadlines, tc.deadlines)
			}
			recv(t, conns, "the server's connection")

			// 1 MiB frames: loopback takes a few MiB before a write blocks.
			big := json.RawMessage(`"` + strings.Repeat("x", 1<<20) + `"`)
			start := time.Now()
			for i := 0; ; i++ {
				callCtx, callCancel := context.WithTimeout(ctx, 50*time.Millisecond)
				_, err := c.CallRaw(callCtx, "stall.test", big)
				callCancel()
				if errors.Is(err, ErrDisconnected) {
					break
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("call %d: %v, want a deadline for the answer or a dropped connection", i, err)
				}
				if time.Since(start) > waitTimeout {
					t.Fatal("writes never stalled")
				}
			}
			// The dropped connection ends the client (no reconnect).
			select {
			case <-c.done:
			case <-time.After(waitTimeout):
				t.Fatal("the client did not stop after its write timed out")
			}
		})
	}
}
