package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/seentest"
)

// ciKillPoints are the kill points CI runs, in acknowledged operations
// after a round's load started, one per node in turn: 5 kills a node
// while the load's first requests load the group's engines and the clients
// are still reaching it; 120 in the middle of the load, with acks, reads
// and membership changes in flight on every node; 400 once histories and
// ack sets are long and the engines busy.
var ciKillPoints = []int64{5, 120, 400}

// killPoints is ciKillPoints, or with SEEN_TEST_KILL_POINTS=N (the long
// mode) N points drawn from the seed in 1..500.
func killPoints(t *testing.T, seed uint64) []int64 {
	t.Helper()
	v := os.Getenv("SEEN_TEST_KILL_POINTS")
	if v == "" {
		return ciKillPoints
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("SEEN_TEST_KILL_POINTS=%q is not a positive number", v)
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	points := make([]int64, n)
	for i := range points {
		points[i] = 1 + rng.Int64N(500)
	}
	return points
}

// killRoundsPerGroup bounds how much history a check reads: the long mode
// moves the load to a fresh group every so many rounds.
const killRoundsPerGroup = 20

// TestClusterNodeKilledMidLoad: three nodes (processes of the built binary)
// on one PostgreSQL and one NATS take a mixed load from clients spread over
// them, and one node is killed with SIGKILL at each kill point (each node
// in turn). Its clients reconnect to another node and send their
// unanswered request again. Then every acknowledged write must be there,
// every surviving node must serve the counts recomputed from the members'
// own state, and so must the killed node once restarted, and the others
// beside it.
func TestClusterNodeKilledMidLoad(t *testing.T) {
	pg := seentest.PostgresDB(t)
	nats := seentest.StartNATS(t)
	nodes := seentest.StartNodes(t, 3, pg, nats.URL())
	var urls, bases []string
	for _, n := range nodes {
		urls, bases = append(urls, n.WSURL()), append(bases, n.URL())
	}
	seed := crashSeed(t)
	t.Logf("seed %d (replay with SEEN_CRASH_SEED=%d)", seed, seed)
	points := killPoints(t, seed)
	var w *clusterWorld
	var sends, resends int64
	for round, k := range points {
		if round%killRoundsPerGroup == 0 {
			if w != nil {
				sends, resends = sends+int64(len(w.sends)), resends+w.resends.Load()
			}
			w = newClusterWorld(t, fmt.Sprintf("kill%d", round/killRoundsPerGroup), urls, bases)
		}
		victim := round % len(nodes)
		what := fmt.Sprintf("round %d, kill point %d, node %d (seed %d)", round, k, victim, seed)
		// Every round dials each user at its own node again, so the
		// victim holds clients whatever earlier kills moved.
		stop := w.run(seed, round)
		w.waitOps(t, what, w.ops.Load(), k)
		resent := w.resends.Load()
		nodes[victim].Kill()
		// The load goes on through the other nodes: the dead node's
		// clients reconnect and send their unanswered request again.
		w.waitOps(t, what+", after the kill", w.ops.Load(), 60)
		stop()
		if w.resends.Load() == resent {
			t.Fatalf("%s: no client reconnected and sent a request again, but the dead node held clients", what)
		}

		var live []int
		for i := range nodes {
			if i != victim {
				live = append(live, i)
			}
		}
		ok := w.checkNodes(t, live, 10*time.Second)
		nodes[victim].Restart()
		// The restarted node first: the members' state is read through it.
		ok = w.checkNodes(t, append([]int{victim}, live...), 10*time.Second) && ok
		if !ok {
			t.Fatalf("%s: the nodes' counts differ from the members' state (above); %d operations acknowledged, %d requests sent again after a reconnect",
				what, w.ops.Load(), w.resends.Load())
		}
	}
	sends, resends = sends+int64(len(w.sends)), resends+w.resends.Load()
	t.Logf("%d kill points survived; %d acknowledged sends checked; %d requests sent again after a reconnect", len(points), sends, resends)
}
