package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// metric reads one unlabelled counter or gauge from /metrics: the sum of
// the nodes' values in a cluster, "" when no node exports it.
func metric(t *testing.T, s *seentest.Server, name string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`)
	texts := metrics(t, s)
	if len(texts) == 1 {
		m := re.FindStringSubmatch(texts[0])
		if m == nil {
			return ""
		}
		return m[1]
	}
	var sum float64
	found := false
	for _, text := range texts {
		if m := re.FindStringSubmatch(text); m != nil {
			v, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				t.Fatalf("%s = %q: %v", name, m[1], err)
			}
			sum, found = sum+v, true
		}
	}
	if !found {
		return ""
	}
	return strconv.FormatFloat(sum, 'g', -1, 64)
}

func TestSlowReaderIsDroppedWithoutSlowingOthers(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) { c.SendQueue = 8 })
	s.Users("sender", "sloth", "bystander")
	// The sloth connects and never reads its socket again.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sloth, _, err := websocket.Dial(ctx, s.WSURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sloth.CloseNow()
	connect, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "connect", "params": map[string]string{"token": s.Token("sloth")}})
	if err := sloth.Write(ctx, websocket.MessageText, connect); err != nil {
		t.Fatal(err)
	}
	sender := connectRaw(t, s, "sender", "")
	bystander := connectRaw(t, s, "bystander", "")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "sender", "members": []string{"sloth", "bystander"}})
	bystander.Event(protocol.EventGroupMember)

	big := strings.Repeat("x", 30000)
	for i := 0; metric(t, s, "seen_slow_client_drops_total") != "1"; i++ {
		if i == 2000 {
			t.Fatalf("the slow reader was not dropped after %d large messages", i)
		}
		send(t, sender, group("g"), fmt.Sprint(i), big)
		// The bystander, who reads, keeps getting everything.
		if m := decode[protocol.MessageNewEvent](t, bystander.Event(protocol.EventMessageNew).Params); m.Message.Seq != uint64(i+1) {
			t.Fatalf("bystander got seq %d, want %d", m.Message.Seq, i+1)
		}
	}
	seentest.Eventually(t, 10*time.Second, func() error {
		if v := metric(t, s, "seen_connections"); v != "2" {
			return fmt.Errorf("seen_connections = %s, want 2 once the sloth is gone", v)
		}
		return nil
	})
}
