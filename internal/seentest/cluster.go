package seentest

import (
	"net"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/testpg"
)

// PostgresDB creates an empty database for the test, dropped when it
// ends, and returns its URL (testpg.Database).
func PostgresDB(t testing.TB) string {
	t.Helper()
	return testpg.Database(t)
}

// NATS is an in-process nats-server listening on a random loopback port,
// which a test may shut down and restart on the same port.
type NATS struct {
	*natsserver.Server
	Port int
	t    testing.TB
}

// StartNATS starts a nats-server on 127.0.0.1 and shuts it down when the
// test ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	n := &NATS{Port: -1, t: t}
	n.start()
	t.Cleanup(func() { n.Shutdown() })
	return n
}

func (n *NATS) start() {
	n.t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: n.Port, NoLog: true, NoSigs: true})
	if err != nil {
		n.t.Fatalf("seentest: nats-server: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		n.t.Fatal("seentest: nats-server not ready within 10s")
	}
	n.Server = ns
	// The next start (Restart) takes the same port, so nodes reconnect.
	n.Port = ns.Addr().(*net.TCPAddr).Port
}

// URL is the server's client URL.
func (n *NATS) URL() string { return n.ClientURL() }

// Restart starts a new nats-server on the port of the one shut down.
func (n *NATS) Restart() {
	n.t.Helper()
	n.start()
}

// Cluster returns a config change that makes a node of the cluster on the
// database at pgURL and the NATS at natsURL ("" for a node without NATS).
func Cluster(pgURL, natsURL string) func(*config.Config) {
	return func(c *config.Config) {
		c.PostgresURL = pgURL
		c.NATSURL = natsURL
	}
}
